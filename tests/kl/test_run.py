"""`measure_kl` end to end on tiny tokenised models: zero on identical models, caching, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from forgetbench.core.config import KLConfig, Runtime
from forgetbench.core.errors import DataError, ModelSpecError, UserInputError
from forgetbench.pipeline.kl import measure_kl
from forgetbench.pipeline.run_folder import write_kl
from tests.tiny import make_tiny_model


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.jsonl"
    texts = [
        "Seven red apples and two green apples.",
        "What is two plus two?",
        "Make an outdoor pillow.",
        "Predators eat",
        "The quick brown fox",
        "A person wants to save money",
        "Fog forms around",
    ]
    path.write_text("\n".join(json.dumps({"prompt": t, "id": i}) for i, t in enumerate(texts)))
    return path


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """Same tokenizer as `tiny_model` (same training corpus), different random weights."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny2") / "model", seed=5)


def cfg(base, ckpt, prompts, **kw) -> KLConfig:
    settings = {"prompts": str(prompts), "n_prompts": 6, "max_new_tokens": 12, "samples_per_prompt": 2, "noise_floor_prompts": 3}
    return KLConfig(str(base), str(ckpt), runtime=Runtime(batch_size=8), **{**settings, **kw})


def test_base_against_itself_is_exactly_zero(tiny_model, prompts_file, store):
    r = measure_kl(cfg(tiny_model, tiny_model, prompts_file), store).result
    full = r.estimates[0]
    assert full.name == "full" and (full.mean, full.ci_low, full.ci_high) == (0.0, 0.0, 0.0)
    assert r.noise_floor.mean == 0.0
    assert r.n_prompts == 6 and r.samples_per_prompt == 2 and 0 < r.mean_response_tokens <= 12


def test_different_weights_give_positive_kl_and_cached_samples(tiny_model, other_model, prompts_file, store, tmp_path):
    first = measure_kl(cfg(tiny_model, other_model, prompts_file), store)
    est = {e.name: e for e in first.result.estimates}
    assert est["full"].mean > 0 and est["full"].ci_low > 0 and est["k3"].mean > 0
    assert not first.result.samples_cached
    # A second checkpoint against the same base reuses the base's samples.
    second = measure_kl(cfg(tiny_model, tiny_model, prompts_file), store)
    assert second.result.samples_cached
    (tmp_path / "out").mkdir()
    write_kl(first, tmp_path / "out")
    rows = pd.read_parquet(tmp_path / "out" / "kl.parquet")
    assert len(rows) == 12 and set(rows.columns) >= {"prompt_index", "sample_index", "full", "k1", "k3", "response_tokens"}
    assert (rows["full"] >= 0).all()
    for r in rows.to_dict("records"):  # per token: one text piece and one KL term each, summing to the sequence's
        assert len(r["tokens"]) == len(r["token_kl"]) == r["response_tokens"] and min(r["token_kl"]) >= 0
        assert float(sum(map(float, r["token_kl"]))) == pytest.approx(r["full"], rel=1e-5, abs=1e-6)
        assert r["prompt"] in [p["prompt"] for p in map(json.loads, prompts_file.read_text().splitlines())]
    page = (tmp_path / "out" / "report.html").read_text()  # a KL-only run's page: the models and the KL section
    assert "KL on the new task" in page and "no prior-capability benchmark was run" in page and "<script" not in page
    loaded = json.loads((tmp_path / "out" / "kl.json").read_text())
    assert loaded["estimates"][0]["mean"] == pytest.approx(est["full"].mean)


def test_reverse_direction_samples_from_the_checkpoint(tiny_model, other_model, prompts_file, store):
    fwd = measure_kl(cfg(tiny_model, other_model, prompts_file), store).result
    rev = measure_kl(cfg(tiny_model, other_model, prompts_file, direction="reverse"), store).result
    assert rev.direction == "reverse" and not rev.samples_cached
    assert rev.estimates[0].mean != fwd.estimates[0].mean


def test_vocabulary_mismatch_is_refused(tiny_model, tmp_path, prompts_file, store):
    odd = make_tiny_model(tmp_path / "odd", vocab_size=300)
    with pytest.raises(ModelSpecError, match="different vocabularies"):
        measure_kl(cfg(tiny_model, odd, prompts_file), store)


@pytest.mark.parametrize(
    "content,suffix,needle",
    [
        (None, ".jsonl", "does not exist"),
        ("", ".jsonl", "empty"),
        ('{"text": "x"}', ".jsonl", "no column 'prompt'"),
        ("prompt\nhello\n", ".txt", "unknown format"),
        ('{"prompt": ""}', ".jsonl", "not a non-empty string"),
    ],
)
def test_bad_prompt_files(tiny_model, tmp_path, store, content, suffix, needle):
    path = tmp_path / f"p{suffix}"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=needle):
        measure_kl(cfg(tiny_model, tiny_model, path), store)


def test_csv_and_parquet_prompts(tiny_model, tmp_path, store):
    pd.DataFrame({"question": ["a b c", "the fox"]}).to_csv(tmp_path / "p.csv", index=False)
    pd.DataFrame({"question": ["a b c", "the fox"]}).to_parquet(tmp_path / "p.parquet")
    for name in ("p.csv", "p.parquet"):
        r = measure_kl(cfg(tiny_model, tiny_model, tmp_path / name, prompt_field="question"), store).result
        assert r.n_prompts == 2


def test_prompts_from_an_lm_eval_task(tiny_model, store):
    config = KLConfig(
        str(tiny_model), str(tiny_model), task="fb_asdiv_lite", n_prompts=3, max_new_tokens=4, noise_floor_prompts=0
    )
    r = measure_kl(config, store).result
    assert r.prompts_source == "task:fb_asdiv_lite" and r.n_prompts == 3 and r.noise_floor is None


@pytest.mark.parametrize(
    "kw,needle",
    [
        ({"estimators": ("full", "k9")}, "--estimators must be one of"),
        ({"estimators": ()}, "names no estimator"),
        ({"direction": "sideways"}, "--direction must be one of"),
        ({"task": "fb_asdiv_lite"}, "exactly one of"),
        ({"n_prompts": 0}, "--n-prompts"),
        ({"noise_floor_prompts": -2}, "--noise-floor-prompts"),
    ],
)
def test_bad_config(tiny_model, prompts_file, kw, needle):
    with pytest.raises(UserInputError, match=needle):
        cfg(tiny_model, tiny_model, prompts_file, **kw)


def test_nan_logits_name_the_model_and_the_prompt(tiny_model, tmp_path, prompts_file, store):
    """A checkpoint whose output head holds NaN: a runtime error (exit 3) naming it and the prompt."""
    import shutil

    from safetensors.torch import load_file, save_file

    from forgetbench.core.errors import BackendError

    broken = Path(shutil.copytree(tiny_model, tmp_path / "broken"))
    tensors = load_file(broken / "model.safetensors")
    tensors["lm_head.weight"][5, :] = float("nan")
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(BackendError, match=r"broken produced NaN/inf log-probs on prompt \d+ of .*prompts.jsonl") as info:
        measure_kl(cfg(tiny_model, broken, prompts_file), store)
    assert info.value.exit_code == 3


def _rendered(result) -> str:
    from rich.console import Console

    from forgetbench.cli.render import kl_table

    console = Console(width=250, record=True)
    console.print(kl_table(result))
    return console.export_text()


def test_a_low_precision_run_reports_its_precision_floor(tiny_model, prompts_file, store):
    """bfloat16 on CPU: two bf16 copies agree bit for bit (noise floor 0), but bf16 differs from float32,
    which only the precision floor sees; a KL of 0 is within it. float32 runs have no precision floor."""
    from dataclasses import replace

    def run(dtype: str, **kw):
        config = replace(
            cfg(tiny_model, tiny_model, prompts_file, **kw), runtime=Runtime(device="cpu", dtype=dtype, batch_size=8)
        )
        return measure_kl(config, store).result

    low = run("bfloat16", noise_floor_prompts=8)  # the floor's interval needs ≥ 3 prompts with spread (fewer bound nothing)
    assert low.dtype == "bfloat16" and low.estimates[0].mean == 0.0 and low.noise_floor.mean == 0.0
    floor = low.precision_floor
    assert floor is not None and floor.name == "full" and floor.mean > 0 and floor.per_token > 0
    assert 0 < floor.ci_low <= floor.mean <= floor.ci_high
    assert low.precision_resolvable is False and low.precision_floor_s > 0
    assert "precision floor full (bfloat16 vs float32) · KL not resolvable at this precision" in _rendered(low)
    fp32 = run("float32")
    assert (fp32.precision_floor, fp32.precision_resolvable, fp32.precision_floor_s) == (None, None, 0.0)
    skipped = run("bfloat16", noise_floor_prompts=0)
    assert skipped.noise_floor is None and skipped.precision_floor is None and skipped.precision_resolvable is None


def test_a_kl_within_the_precision_floor_is_not_resolvable():
    from forgetbench.core.results import Estimate
    from forgetbench.kl.run import precision_floor, resolvable

    floor = precision_floor(Estimate("full", 0.03, 0.025, 0.04, 0.001))  # both models' rounding: twice the measured
    assert (floor.mean, floor.ci_low, floor.ci_high, floor.per_token) == pytest.approx((0.06, 0.05, 0.08, 0.002))
    kl = lambda mean: Estimate("full", mean, mean / 2, mean * 2, 0.0)  # noqa: E731
    assert resolvable(kl(0.07), floor) is False  # above the floor's mean, within its CI
    assert resolvable(kl(0.08), floor) is False  # the upper CI end itself is within
    assert resolvable(kl(0.081), floor) is True
    assert resolvable(kl(0.07), None) is None  # float32: no floor, nothing to decide
    no_ci = Estimate("full", 0.06, float("nan"), float("nan"), 0.001)  # one prompt: no CI, the mean decides
    assert resolvable(kl(0.06), no_ci) is False and resolvable(kl(0.061), no_ci) is True


def test_every_predictor_comes_from_the_run_and_its_rows(tiny_model, other_model, prompts_file, store, tmp_path):
    """One forward run with `--direction both` and old-task prompts reports every predictor; each per-token one
    is its rows' mean over prompts, the forward KL is the headline, and kl_reverse_new is what a reverse run
    on the same prompts and seed measures (the checkpoint's samples are drawn once, the same way)."""
    from forgetbench.core.predictors import PREDICTORS
    from forgetbench.core.results_io import to_json
    from forgetbench.runs import RunFolder, layout

    both = measure_kl(cfg(tiny_model, other_model, prompts_file, direction="both", old_task_suite="offline-lite",
                          old_task_prompts=7), store)  # fmt: skip
    r = both.result
    assert r.direction == "forward" and r.old_task_prompts == 7 and r.predictor_notes == ()
    assert [p.name for p in r.predictors] == [p.name for p in PREDICTORS]  # every one, in catalog order
    head = r.headline_estimate
    assert (r.predictor("kl_forward_new").value, r.predictor("kl_forward_new").ci_low) == (head.mean, head.ci_low)
    rows = pd.DataFrame(both.rows)
    for name, column in (("tv_new", "tv"), ("js_new", "js"), ("kl_reverse_tok_new", "kl_reverse_tok"), ("act_new", "act")):
        p = r.predictor(name)
        assert p.value == pytest.approx(rows.groupby("prompt_index")[column].mean().mean(), rel=1e-12)
        assert p.ci_low <= p.value <= p.ci_high and p.value > 0
        sums = rows[f"token_{column}"].map(lambda t: float(t.astype("float64").sum()))
        assert sums.to_numpy() == pytest.approx(rows[column].to_numpy(), rel=1e-6)
    old = pd.DataFrame(both.old_rows)
    assert old["prompt_index"].nunique() == 7 and old["task"].nunique() >= 2  # drawn across the suite's tasks
    assert r.predictor("kl_forward_old").value == pytest.approx(old.groupby("prompt_index")["full"].mean().mean())
    reverse = measure_kl(cfg(tiny_model, other_model, prompts_file, direction="reverse"), store).result
    assert r.predictor("kl_reverse_new").value == pytest.approx(reverse.headline_estimate.mean, rel=1e-9)
    assert reverse.predictors[0].name == "kl_reverse_new" and reverse.predictor("tv_new") is None
    sealed = write_kl(both, tmp_path / "both")
    folder = RunFolder(tmp_path / "both")
    assert set(sealed.files) == {layout.KL_ROWS, layout.KL_OLD_ROWS, layout.KL_REVERSE_ROWS}  # sealed with every rows file
    assert folder.kind == "kl" and to_json(folder.kl_result()) == to_json(sealed)  # (NaN ≠ NaN: compared as written)
    assert len(folder.side_rows(layout.KL_REVERSE_ROWS)) == len(both.reverse_rows) > 0
    assert list(folder.side_rows(layout.KL_OLD_ROWS)["task"]) == list(old["task"])
