"""Gate rules on any reported predictor of forgetting (the policy's `[predictors]` table): a per-token divergence
decided pass / fail / inconclusive by the KL rule's machinery on its own column of the run's rows, a weight
distance by its value alone, a rule on a predictor the run lacks refused in one line, and old (v6) run folders
still gated. The run folders are written by the real writers (`runs.folder.seal_kl`, `RunFolder.write_kl`)
from rows built here, so the gate reads them exactly as it reads a run's."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from forgetbench.core.errors import DataError
from forgetbench.core.predictors import BY_NAME
from forgetbench.core.results import Estimate, PredictorValue
from forgetbench.gate.decide import decide, load_inputs
from forgetbench.gate.outputs import junit_xml, markdown
from forgetbench.gate.policy import GatePolicy, PolicyError, load_policy
from forgetbench.runs import RunFolder, layout, load_kl
from forgetbench.runs.folder import seal_kl
from forgetbench.stats.bootstrap import mean_test
from forgetbench.stats.kl_mean import MIN_PASS_PROMPTS
from tests.cli.test_cli import _assert_one_line_error
from tests.command import fb

BEFORE = Path(__file__).parents[1] / "runs" / "written_before"
COLUMNS = {"kl_reverse_tok": "kl_reverse_tok_new", "tv": "tv_new", "js": "js_new", "act": "act_new"}


def _estimate(name: str, values: np.ndarray) -> Estimate:
    test = mean_test(values, np.arange(len(values)), np.random.default_rng(0))
    low, high = test.interval(0.95)
    return Estimate(name, test.estimate, low, high, float(values.mean() / 10))


def _predictor(name: str, est: Estimate) -> PredictorValue:
    return PredictorValue(name, BY_NAME[name].inputs, est.mean, est.ci_low, est.ci_high, BY_NAME[name].unit)


def _rows(columns: dict[str, np.ndarray], task: str | None = None) -> list[dict]:
    n = len(next(iter(columns.values())))
    return [
        {"prompt_index": i, "source_index": i, **({"task": task} if task else {}), "sample_index": 0, "response_tokens": 10,
         "eos": True, **{c: float(v[i]) for c, v in columns.items()}, "prompt": f"prompt {i}", "tokens": ["a"] * 10,
         "token_kl": np.full(10, columns["full"][i] / 10, np.float32)}
        for i in range(n)
    ]  # fmt: skip


def kl_folder(
    path: Path, n: int = 200, tv_scale: float = 0.05, old: bool = False, weights: dict | None = None, seed=0, missing=None
):
    """A KL-only run folder of `n` prompts whose per-prompt values are lognormal (spread 0.5): forward KL
    around 1 nat, the other per-token divergences around `tv_scale`; `old` adds kl_old.parquet, `weights`
    the weight distances; `missing` ({name: why}) leaves predictors out of the table with a note saying why."""
    rng = np.random.default_rng(seed)
    new = {"full": rng.lognormal(0, 0.5, n), **{c: tv_scale * rng.lognormal(0, 0.5, n) for c in COLUMNS}}
    template = load_kl(BEFORE / "kl")
    full = _estimate("full", new["full"])
    table = [_predictor("kl_forward_new", full)] + [_predictor(p, _estimate(c, new[c])) for c, p in COLUMNS.items()]
    old_rows = None
    if old:
        olds = {"full": rng.lognormal(0, 0.5, 60), "tv": 2 * tv_scale * rng.lognormal(0, 0.5, 60)}
        old_rows = _rows(olds, task="fb_piqa_lite")
        table += [
            _predictor("kl_forward_old", _estimate("full", olds["full"])),
            _predictor("tv_old", _estimate("tv", olds["tv"])),
        ]
    for name, value in (weights or {}).items():
        table.append(PredictorValue(name, "weights", value, math.nan, math.nan, BY_NAME[name].unit))
    order = list(BY_NAME)
    table = [p for p in table if p.name not in (missing or {})]
    result = replace(template, n_prompts=n, samples_per_prompt=1, estimates=(full,), headline="full", noise_floor=None,
                     noise_floor_k1=None, precision_floor=None, precision_resolvable=None, files={}, digest="",
                     predictors=tuple(sorted(table, key=lambda p: order.index(p.name))), old_task_prompts=60 if old else 0,
                     predictor_notes=tuple(f"{k}: {v}" for k, v in (missing or {}).items()))  # fmt: skip
    RunFolder(path).write_kl(seal_kl(result, _rows(new), {layout.KL_OLD_ROWS: old_rows or []}), page=b"<!doctype html>")
    return path


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def _gate(run: Path, text: str, tmp_path):
    path = _write(tmp_path, text)
    policy = load_policy(path)
    return decide(load_inputs(run, policy.predictors), policy, path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return kl_folder(
        tmp_path_factory.mktemp("pred") / "run", old=True, weights={"weight_frobenius": 0.02, "weight_spectral": 1.5}
    )


def test_a_tv_rule_is_decided_pass_fail_and_inconclusive(run, tmp_path):
    tv = load_kl(run).predictor("tv_new").value
    assert 0.03 < tv < 0.08
    passed = _gate(run, "[predictors]\nmax_tv_new = 0.3\n", tmp_path)
    failed = _gate(run, "[predictors]\nmax_tv_new = 0.02\n", tmp_path)
    (p,), (f,) = passed.rules, failed.rules
    assert p.rule == f.rule == "predictor:tv_new"
    assert (p.status, p.passed, passed.passed) == ("pass", True, True) and p.high < 0.3 and p.p_within < 0.05
    assert p.estimate == pytest.approx(tv) and "shown within the limit" in p.reason and p.reason.startswith("tv_new ")
    assert (f.status, failed.passed) == ("fail", False) and f.low > 0.02 and "shown beyond the limit" in f.reason
    assert f.mde > 0.02 and f.method == p.method  # the KL rule's test and sizing, on TV's per-prompt values
    small = kl_folder(tmp_path / "small", n=20)  # below the KL rule's pass minimum: nothing is shown within
    (u,) = _gate(small, "[predictors]\nmax_tv_new = 0.3\n", tmp_path).rules
    assert u.status == "inconclusive" and u.passed and u.n_needed == MIN_PASS_PROMPTS
    assert f"a pass needs at least {MIN_PASS_PROMPTS} prompts" in u.reason and f"about {MIN_PASS_PROMPTS} prompts" in u.reason
    strict = _gate(small, 'on_inconclusive = "fail"\n[predictors]\nmax_tv_new = 0.3\n', tmp_path)
    assert strict.status == "inconclusive" and not strict.passed


def test_every_per_token_predictor_and_the_old_prompts_are_read_from_their_own_column(run, tmp_path):
    kl = load_kl(run)
    text = "[predictors]\n" + "".join(
        f"max_{n} = 100.0\n" for n in ("js_new", "act_new", "kl_reverse_tok_new", "tv_old", "kl_forward_old")
    )
    v = _gate(run, text, tmp_path)
    assert [r.rule for r in v.rules] == [
        f"predictor:{n}" for n in ("kl_reverse_tok_new", "js_new", "act_new", "kl_forward_old", "tv_old")
    ]
    for r in v.rules:
        assert r.estimate == pytest.approx(kl.predictor(r.rule.split(":")[1]).value)
    old = next(r for r in v.rules if r.rule == "predictor:tv_old")
    assert old.status == "inconclusive" and "60 prior-suite prompts" in old.reason  # 60 < the pass minimum


def test_a_weight_distance_rule_is_decided_by_its_value_never_inconclusive(run, tmp_path):
    v = _gate(run, "max_kl = 1000\n[predictors]\nmax_weight_frobenius = 0.02\nmax_weight_spectral = 1.0\n", tmp_path)
    kl, frob, spec = v.rules
    assert (frob.status, spec.status) == ("pass", "fail") and not v.passed  # 0.02 ≤ 0.02; 1.5 > 1.0
    assert spec.estimate == spec.low == spec.high == 1.5 and math.isnan(spec.mde) and spec.n_needed is None
    assert "no sampling error" in frob.reason and "never inconclusive" in spec.reason
    # not in the correction's family: the KL rule is corrected as if alone
    assert kl.p_beyond == _gate(run, "max_kl = 1000\n", tmp_path).rules[0].p_beyond


def test_predictor_rules_count_in_the_correction_and_show_in_junit_and_the_summary(run, tmp_path):
    alone = _gate(run, "[predictors]\nmax_tv_new = 0.045\n", tmp_path).rules[0]
    v = _gate(run, "max_kl = 1000\n[predictors]\nmax_tv_new = 0.045\nmax_js_new = 0.045\n", tmp_path)
    tv = next(r for r in v.rules if r.rule == "predictor:tv_new")
    assert tv.p_beyond >= alone.p_beyond and (alone.p_beyond == 1 or tv.p_beyond > alone.p_beyond)
    cases = ET.fromstring(junit_xml(v)).find("testsuite").findall("testcase")
    assert [c.get("name") for c in cases] == ["kl", "predictor:tv_new", "predictor:js_new"]
    assert "| predictor:tv_new |" in markdown(v)


def test_a_rule_on_a_predictor_the_run_lacks_is_one_line_exit_2(tmp_path):
    bare = kl_folder(tmp_path / "bare", n=20)
    for text, needle in (
        (
            "[predictors]\nmax_tv_old = 0.3\n",
            "has no tv_old, which the policy limits (max_tv_old): score with --old-task-prompts N",
        ),
        (
            "[predictors]\nmax_weight_spectral = 1\n",
            "has no weight_spectral, which the policy limits (max_weight_spectral): measure with --weight-distance",
        ),
        (
            "[predictors]\nmax_kl_reverse_new = 1\n",
            "has no kl_reverse_new, which the policy limits (max_kl_reverse_new): measure with --direction reverse or both",
        ),
    ):
        proc = fb("gate", str(bare), "--policy", str(_write(tmp_path, text)), "--junit", str(tmp_path / "j.xml"))
        _assert_one_line_error(proc, 2, needle)
        assert not (tmp_path / "j.xml").exists()


def test_a_rule_on_a_predictor_the_run_could_not_measure_says_why(tmp_path):
    run = kl_folder(tmp_path / "run", n=20, missing={"act_new": "the vllm backend's full scorer does not compute it"})
    with pytest.raises(DataError) as info:
        _gate(run, "[predictors]\nmax_act_new = 1\n", tmp_path)
    assert str(info.value).endswith("has no act_new, which the policy limits (max_act_new): it was not measured: "
                                    "the vllm backend's full scorer does not compute it")  # fmt: skip
    assert _gate(run, "[predictors]\nmax_tv_new = 1\n", tmp_path).rules[0].rule == "predictor:tv_new"


@pytest.mark.parametrize("kind", ["kl", "score"])
def test_runs_written_before_the_predictors_table_still_gate(kind, tmp_path):
    run = BEFORE / kind
    v = decide(load_inputs(run), GatePolicy(max_kl=1000.0, n_boot=200))
    assert [r.rule for r in v.rules] == ["kl"]
    assert load_inputs(run).measured == ("kl_forward_new",)
    proc = fb("gate", str(run), "--policy", str(_write(tmp_path, "[predictors]\nmax_tv_new = 0.3\n")))
    _assert_one_line_error(
        proc, 2, "has no tv_new, which the policy limits (max_tv_new): measure forward KL with the full estimator"
    )


def test_the_gate_command_decides_a_predictor_rule(run, tmp_path):
    junit = tmp_path / "junit.xml"
    proc = fb(
        "gate", str(run), "--policy", str(_write(tmp_path, "[predictors]\nmax_tv_new = 0.02\n")), "--junit", str(junit), "--json"
    )
    assert proc.returncode == 1, proc.stderr
    v = json.loads(proc.stdout)
    assert [(r["rule"], r["status"]) for r in v["rules"]] == [("predictor:tv_new", "fail")]
    case = ET.parse(junit).getroot().find("testsuite").find("testcase")
    assert case.get("name") == "predictor:tv_new" and case.find("failure") is not None
    proc = fb("gate", str(run), "--policy", str(_write(tmp_path, "[predictors]\nmax_tv_new = 0.3\n")))
    assert proc.returncode == 0 and "predictor:tv_new" in proc.stdout, proc.stderr


POLICY_ERRORS = [
    (
        "[predictors]\nmax_kl_forward_new = 3\n",
        "predictors.max_kl_forward_new is the forward KL on the new task: write it as the top-level max_kl",
    ),
    ("[predictors]\nmax_tvv_new = 0.3\n", "predictors.max_tvv_new is not a predictor rule (known: max_kl_reverse_tok_new"),
    ("[predictors]\ntv_new = 0.3\n", "predictors.tv_new is not a predictor rule"),
    ("[predictors]\nmax_tv_new = -0.1\n", "predictors.max_tv_new must be a finite number ≥ 0 (tokens) (got -0.1)"),
    ("[predictors]\nmax_tv_new = nan\n", "predictors.max_tv_new must be a finite number ≥ 0"),
    ("[predictors]\nmax_tv_new = inf\n", "predictors.max_tv_new must be a finite number ≥ 0"),
    ('[predictors]\nmax_tv_new = "0.3"\n', "predictors.max_tv_new must be a finite number ≥ 0"),
    ("[predictors]\nmax_tv_new = true\n", "predictors.max_tv_new must be a finite number ≥ 0"),
    ("predictors = 3\n", "predictors must be a table of max_<predictor> = limit"),
    ("[predictors]\n", "no rule (set at least one of max_task_drop, task_drop, max_aggregate_drop, max_kl, [predictors])"),
]


@pytest.mark.parametrize("text,needle", POLICY_ERRORS)
def test_a_bad_predictors_table_is_one_line_naming_the_key(tmp_path, text, needle):
    with pytest.raises(PolicyError) as info:
        load_policy(_write(tmp_path, text))
    assert needle in str(info.value) and "\n" not in str(info.value) and info.value.exit_code == 2


def test_a_bad_predictors_table_stops_the_gate_before_anything_is_read(tmp_path):
    proc = fb("gate", str(tmp_path / "nowhere"), "--policy", str(_write(tmp_path, "[predictors]\nmax_kl_forward_new = 3\n")))
    _assert_one_line_error(proc, 2, "write it as the top-level max_kl")


def test_a_predictor_only_policy_needs_no_tasks():
    assert GatePolicy(predictors={"tv_new": 0.3}).kl_only
    assert GatePolicy(max_kl=1.0, predictors={"weight_frobenius": 0.1}).kl_only
    assert not GatePolicy(max_task_drop=5.0, predictors={"tv_new": 0.3}).kl_only
    with pytest.raises(PolicyError, match="max_kl limits kl_forward_new"):
        GatePolicy(predictors={"kl_forward_new": 1.0})


def test_a_predictors_table_that_does_not_match_its_rows_is_refused(run, tmp_path):
    import shutil

    import pandas as pd

    bad = tmp_path / "bad"
    shutil.copytree(run, bad)
    rows = pd.read_parquet(bad / "kl.parquet")
    rows["tv"] = rows["tv"] * 2
    rows.to_parquet(bad / "kl.parquet")
    with pytest.raises(DataError, match="changed after the run wrote it"):  # the seal sees it first
        load_inputs(bad, ["tv_new"])


def test_plan_sizes_a_predictor_rule_from_a_pilot_that_has_it(run, tmp_path):
    from forgetbench.pipeline.plan import plan_suite

    path = _write(tmp_path, "[predictors]\nmax_tv_new = 0.3\nmax_js_new = 0.3\nmax_act_old = 1\nmax_weight_frobenius = 0.1\n")
    bare, piloted = plan_suite("offline-lite", path), plan_suite("offline-lite", path, run)
    assert bare.fail_alpha == piloted.fail_alpha == pytest.approx(0.05 / 3)  # three per-token rules; the weight one is exact
    assert [r.spread for r in bare.rules] == ["needs --pilot"] * 3 + ["no sampling error"]
    tv, js, act, weight = piloted.rules
    assert (tv.rule, tv.size, tv.spread) == ("predictor:tv_new", 200, "pilot (200)") and 0.3 < tv.mde < 0.4
    assert js.size == 200 and act.spread == "needs a pilot with act_old" and weight.needed_for.startswith("decided by its value")


def test_score_gate_with_a_predictor_only_policy_measures_the_kl_alone(score_runs, tmp_path):
    """A real run (the memorised tiny models): a `[predictors]`-only policy takes the KL-only path, the damaged
    checkpoint's TV is measured in the KL pass and shown beyond a tiny limit, no benchmark runs."""
    from forgetbench.prior.run import NAMESPACE

    store, out = tmp_path / "store", tmp_path / "run"
    args = ["score", str(score_runs["base"]), str(score_runs["damaged_model"]), "--new-task", str(score_runs["prompts"]),
            "--n-prompts", "4", "--max-new-tokens", "8", "--noise-floor-prompts", "0", "--store", str(store), "--out", str(out),
            "--gate", str(_write(tmp_path, "[predictors]\nmax_tv_new = 0.001\n")), "--json"]  # fmt: skip
    proc = fb(*args)
    assert proc.returncode == 1, proc.stderr
    (rule,) = json.loads(proc.stdout)["rules"]
    assert (rule["rule"], rule["status"]) == ("predictor:tv_new", "fail") and rule["low"] > 0.001
    assert rule["estimate"] == pytest.approx(load_kl(out).predictor("tv_new").value)
    assert (out / "kl.json").is_file() and not (out / "report.json").exists() and not (store / NAMESPACE).exists()
