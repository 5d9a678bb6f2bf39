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
from forgetbench.core.results_io import load_kl, load_report  # noqa: E402


@pytest.fixture
def kl_json(score_runs, tmp_path):
    """A real kl.json (the KL half of a real score report) and its data."""
    data = json.loads((score_runs["barely"] / "report.json").read_text())["kl"]
    return tmp_path / "kl.json", data


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


def test_a_kl_result_round_trips(kl_json):
    path, data = kl_json
    result = load_kl(_write(path, data))
    assert json.loads(json.dumps(result.to_dict())) == data and result.headline == "full"


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
        load_kl(_write(path, data))
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
