"""Every field of every result type is documented (an attribute docstring right after it)."""

from __future__ import annotations

import ast
from pathlib import Path

import forgetbench.core.results as schema


def undocumented() -> list[str]:
    tree = ast.parse(Path(schema.__file__).read_text())
    missing = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        body = cls.body
        for i, node in enumerate(body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                nxt = body[i + 1] if i + 1 < len(body) else None
                documented = (
                    isinstance(nxt, ast.Expr)
                    and isinstance(getattr(nxt, "value", None), ast.Constant)
                    and isinstance(nxt.value.value, str)
                )
                if not documented:
                    missing.append(f"{cls.name}.{node.target.id}")
    return missing


def test_every_result_field_has_a_docstring():
    assert undocumented() == []


# Reading result files back (core.results_io): versioned, strict, one line naming the field.

import json  # noqa: E402

import pytest  # noqa: E402

from forgetbench.core.errors import ResultFileError  # noqa: E402
from forgetbench.runs import load_kl, load_report  # noqa: E402


@pytest.fixture
def kl_json(score_runs, tmp_path):
    """A real kl.json (the KL half of a real score report, sealed as `kl` seals its own) and its data."""
    data = json.loads((score_runs["barely"] / "report.json").read_text())["kl"]
    return tmp_path / "kl.json", _sealed(data)


def _sealed(data):
    """`data` with its digest recomputed (as `results_io.seal` writes it)."""
    from forgetbench.core.hashing import digest

    data["digest"] = digest({**data, "digest": ""})
    return data


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_a_kl_result_round_trips(kl_json):
    path, data = kl_json
    from forgetbench.core.results_io import to_json

    result = load_kl(_write(path, data))
    assert json.loads(to_json(result)) == data and result.headline == "full"  # NaN (a weight distance's CI) as null


@pytest.mark.parametrize(
    "change,needle",
    [
        (lambda d: d.update(schema_version=99), "written by a newer forgetbench (schema version 99"),
        (lambda d: d.update(surprise=1), "unknown field surprise"),
        (lambda d: d.pop("headline"), "missing field headline"),
        (lambda d: d["estimates"][0].pop("ci_low"), "missing field estimates[0].ci_low"),
        (lambda d: d.update(n_prompts="many"), "n_prompts should be int"),
        (lambda d: d.update(schema_version="2"), "no valid schema_version"),
    ],
)
def test_bad_kl_files_are_refused_naming_the_field(kl_json, change, needle):
    path, data = kl_json
    change(data)
    with pytest.raises(ResultFileError) as info:
        load_kl(_write(path, _sealed(data)))
    assert needle in str(info.value) and "\n" not in str(info.value) and info.value.exit_code == 2


def test_a_version_1_report_is_migrated_with_full_as_its_headline(score_runs, tmp_path):
    """Version 1 had no `headline` (the first estimator was it); the migration names `full` when computed."""
    data = json.loads((score_runs["barely"] / "report.json").read_text())
    data["schema_version"] = data["kl"]["schema_version"] = 1
    for part in (data, data["kl"]):  # fields added by versions 2 and 3
        del part["files"], part["digest"]
    del data["kl"]["headline"]
    data["kl"]["estimates"] = data["kl"]["estimates"][::-1]  # k3, k1, full: v1 would have headlined k3
    report = load_report(_write(tmp_path / "report.json", data))
    assert report.schema_version == schema.SCHEMA_VERSION and report.kl.headline == "full"
    assert report.kl.headline_estimate.name == "full" and report.files == {} and report.digest == ""


def test_a_sealed_version_3_report_reads_back_with_its_digest_checked_as_written(score_runs, tmp_path):
    """Version 4 added the three-valued statistics; a sealed version-3 report still reads (no Holm p
    was computed then: None), and its digest is checked on the file as written, not on the migration."""
    from forgetbench.core.hashing import digest

    data = json.loads((score_runs["barely"] / "report.json").read_text())
    data["schema_version"] = data["kl"]["schema_version"] = 3
    for key in ("template_mismatch", "precision_floor", "precision_resolvable", "precision_floor_s"):
        del data["kl"][key]
    for task in data["retention"]["tasks"]:
        del task["p_adjusted"]
    data["digest"] = ""
    data["digest"] = digest(data)
    report = load_report(_write(tmp_path / "report.json", data))
    assert report.schema_version == schema.SCHEMA_VERSION and report.digest == data["digest"]
    assert all(t.p_adjusted is None for t in report.retention.tasks) and report.kl.precision_floor is None
    data["retention"]["forgetting"] += 1.0
    with pytest.raises(ResultFileError, match="edited after it was written"):
        load_report(_write(tmp_path / "edited.json", data))


def test_a_version_3_gate_verdict_reads_as_two_valued_rules(tmp_path):
    from forgetbench.core.results_io import read_result

    rule = {"rule": "kl", "passed": False, "estimate": 40.0, "margin": 30.0, "bound": 35.0, "p_value": 0.01,
            "p_adjusted": 0.01, "reason": "forward KL 40.00 nats/seq; 95% lower bound 35.00 > limit 30"}  # fmt: skip
    old = {"schema_version": 3, "forgetbench_version": "0.1.0", "passed": False, "run": "r", "base": "b", "ckpt": "c",
           "policy": "p.toml", "policy_hash": "", "mode": "significant-drop", "alpha": 0.05, "correction": "holm",
           "rules": [rule]}  # fmt: skip
    v = read_result(_write(tmp_path / "gate.json", old), schema.GateVerdict)
    assert (v.status, v.on_inconclusive, v.rules[0].status, v.rules[0].low, v.rules[0].p_beyond) == (
        "fail",
        "pass",
        "fail",
        35.0,
        0.01,
    )


# The seal cannot be switched off; NaN is null.


@pytest.mark.parametrize("how", ["empty", "missing"])
@pytest.mark.parametrize("name", ["report.json", "kl.json"])
def test_an_empty_or_missing_digest_on_a_sealed_schema_is_refused(score_runs, tmp_path, how, name):
    """The probe's forgery: numbers changed and the digest blanked (or removed) so no check ran."""
    data = json.loads((score_runs["barely"] / "report.json").read_text())
    if name == "kl.json":
        data = _sealed(data["kl"])
        data["estimates"][0]["mean"] = 0.0
    else:
        data["retention"]["forgetting"] = -99.0
    data["digest"] = ""
    if how == "missing":
        del data["digest"]
    with pytest.raises(ResultFileError) as info:
        (load_kl if name == "kl.json" else load_report)(_write(tmp_path / name, data))
    msg = str(info.value)
    assert f"has {'no' if how == 'missing' else 'an empty'} digest" in msg and f"schema version {schema.SCHEMA_VERSION}" in msg
    assert "\n" not in msg and info.value.exit_code == 2


def test_a_sealed_report_relabelled_as_an_unsealed_schema_is_refused(score_runs, tmp_path):
    """The seal cannot be dodged by declaring a schema version from before it (whose files had no digest)."""
    data = json.loads((score_runs["barely"] / "report.json").read_text())
    data["retention"]["forgetting"] = -99.0
    data["schema_version"], data["digest"] = 2, ""
    with pytest.raises(ResultFileError, match="declares schema version 2, which had no seal") as info:
        load_report(_write(tmp_path / "report.json", data))
    assert info.value.exit_code == 2


def test_the_forged_report_is_refused_by_gate_leaderboard_and_view(score_runs, tmp_path):
    """End to end: `gate`, `leaderboard add` and `view` each refuse it, exit 2, one line, nothing written."""
    import shutil

    from tests.cli.test_cli import _assert_one_line_error, _snapshot
    from tests.command import fb

    run = Path(shutil.copytree(score_runs["barely"], tmp_path / "run"))
    data = json.loads((run / "report.json").read_text())
    data["retention"]["forgetting"], data["digest"] = -99.0, ""
    (run / "report.json").write_text(json.dumps(data, indent=2))
    (run / "report.html").unlink()  # `view` would redraw it from the forged report
    policy = tmp_path / "policy.toml"
    policy.write_text("max_aggregate_drop = 5.0\n")
    before = _snapshot(tmp_path)
    for args in (
        ("gate", str(run), "--policy", str(policy)),
        ("leaderboard", "add", str(run), "--to", str(tmp_path / "board.csv")),
        ("view", str(run), "--no-open"),
    ):
        _assert_one_line_error(fb(*args), 2, "has an empty digest")
    assert _snapshot(tmp_path) == before and not (tmp_path / "board.csv").exists()


def test_nan_is_written_as_null_and_read_back_as_nan(score_runs, tmp_path):
    """ "retention ratio nan" (a suite whose base scores 0): report.json stays JSON (no bare NaN), the seal holds."""
    import math
    from dataclasses import replace

    from forgetbench.core.results_io import seal, to_json

    report = load_report(score_runs["barely"])
    nan = replace(report, retention=replace(report.retention, retention_ratio=float("nan"), forgetting_high=float("inf")))
    text = to_json(seal(nan, {})).decode()
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"bare {c} in report.json"))
    assert data["retention"]["retention_ratio"] is None and data["retention"]["forgetting_high"] is None
    back = load_report(_write(tmp_path / "report.json", data))
    assert math.isnan(back.retention.retention_ratio) and math.isnan(back.retention.forgetting_high)
    assert back.retention.forgetting == report.retention.forgetting


def test_an_older_file_with_bare_nan_still_reads_with_its_digest_checked(score_runs, tmp_path):
    """Files written before NaN became null hold `NaN` and a digest computed over it: both still read."""
    import math

    from forgetbench.core.hashing import digest

    data = json.loads((score_runs["barely"] / "report.json").read_text())
    data["retention"]["retention_ratio"] = float("nan")
    data["digest"] = ""
    data["digest"] = digest(data)
    path = tmp_path / "report.json"
    path.write_text(json.dumps(data))  # Python's json writes the bare NaN old forgetbench wrote
    assert "NaN" in path.read_text()
    assert math.isnan(load_report(path).retention.retention_ratio)
    data["retention"]["forgetting"] += 1
    path.write_text(json.dumps(data))
    with pytest.raises(ResultFileError, match="edited after it was written"):
        load_report(path)
