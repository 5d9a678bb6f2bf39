"""`score` end to end on tiny models that memorised real benchmark items, so damage is measurable."""

from __future__ import annotations

import pytest

from forgetbench.core.config import EvalConfig, Runtime, ScoreConfig
from forgetbench.core.errors import DataError
from forgetbench.core.rows import ANSWER_COLUMNS, ITEM_COLUMNS
from forgetbench.pipeline.run_folder import write_score
from forgetbench.pipeline.score import compute_score, score
from forgetbench.runs import load_report
from tests.memorised import LIMIT, TASKS, write_prompts


@pytest.fixture
def models(memorised_models):
    return memorised_models


@pytest.fixture
def setup(custom_suites, tmp_path):
    suite = custom_suites("mem", TASKS)
    return suite, write_prompts(tmp_path / "prompts.jsonl")


def config_of(models, setup, ckpt: str, **options) -> ScoreConfig:
    suite, prompts = setup
    settings = {"suite": suite, "limit": LIMIT, "n_prompts": 4, "max_new_tokens": 8, "batch_size": 8, "noise_floor_prompts": 2}
    return ScoreConfig.build(str(models["base"]), str(models[ckpt]), str(prompts), **{**settings, **options})


def run(models, setup, store, ckpt: str):
    return compute_score(config_of(models, setup, ckpt), store)


def test_base_against_itself_changes_nothing(models, setup, store):
    r = run(models, setup, store, "base").report
    for t in r.retention.tasks:
        assert (t.delta, t.forgotten, t.gained, t.p_value, t.p_adjusted) == (0, 0, 0, 1.0, 1.0)
        assert t.delta_low == pytest.approx(-t.delta_high) and t.delta_low < 0  # no flip in n items: not [0, 0]
        assert t.base > 90 and t.chance == (0.5 if t.task == "fb_piqa_lite" else 0.25)
    assert r.retention.forgetting == 0 and r.retention.retention_ratio == 1.0
    assert r.kl.estimates[0].mean == 0.0 and r.kl.noise_floor.mean == 0.0
    assert r.verdict.startswith("No significant forgetting")


def test_damaged_checkpoint_drops_significantly_with_large_kl(models, setup, store):
    damaged = run(models, setup, store, "damaged").report
    barely = run(models, setup, store, "barely").report
    for t in damaged.retention.tasks:
        assert t.delta_high < 0 and t.p_value < 0.01 and t.forgotten > t.gained
    assert damaged.retention.forgetting_low > 10
    assert damaged.verdict.startswith("Forgot")
    for t in barely.retention.tasks:
        assert t.delta_low <= 0 <= t.delta_high and t.p_value > 0.05
    assert barely.retention.forgetting_low <= 0 <= barely.retention.forgetting_high
    assert damaged.kl.estimates[0].ci_low > 100 * barely.kl.estimates[0].ci_high


def test_run_directory_and_report_round_trip(models, setup, store, tmp_path):
    import pandas as pd

    result = run(models, setup, store, "barely")
    (tmp_path / "run").mkdir()
    written = write_score(result, tmp_path / "run")
    names = {p.name for p in (tmp_path / "run").iterdir()}
    assert names == {
        "report.json",
        "report.md",
        "report.html",
        "items.parquet",
        "kl.parquet",
        "kl_old.parquet",
        "leaderboard_row.csv",
    }
    from dataclasses import replace

    from forgetbench.core.results_io import to_json

    # compared as written: a weight distance's CI is NaN, and NaN ≠ NaN between a computed and a read-back value
    assert to_json(load_report(tmp_path / "run")) == to_json(written)
    assert written.digest and set(written.files) == {"items.parquet", "kl.parquet", "kl_old.parquet"}
    unsealed = replace(written, files={}, digest="")
    assert to_json(unsealed) == to_json(result.report)  # sealing adds only those
    items = pd.read_parquet(tmp_path / "run" / "items.parquet")
    evidence = {*ITEM_COLUMNS, *(f"{who}_{c}" for who in ("base", "ckpt") for c in ANSWER_COLUMNS)}
    assert len(items) == 2 * LIMIT and set(items.columns) == {"task", "doc_id", "doc_hash", "base", "ckpt", *evidence}
    changed = items["base"] != items["ckpt"]
    assert items["context"].notna().eq(changed).all()  # evidence kept for exactly the changed items (none here)
    row = pd.read_csv(tmp_path / "run" / "leaderboard_row.csv")
    assert len(row) == 1 and row["ckpt_fingerprint"][0] == result.report.ckpt.fingerprint
    assert result.report.verdict in (tmp_path / "run" / "report.md").read_text()


def test_bad_report_files_are_refused(tmp_path):
    (tmp_path / "report.json").write_text('{"schema_version": 999}')
    with pytest.raises(DataError, match="newer forgetbench"):
        load_report(tmp_path)
    with pytest.raises(DataError, match="no file"):
        load_report(tmp_path / "missing.json")


def test_items_that_do_not_pair_are_an_error(models, custom_suites, store):
    from dataclasses import replace

    from forgetbench.prior.retention import compare, pair
    from forgetbench.prior.run import evaluate

    suite = custom_suites("mem1", {"fb_piqa_lite": "acc"})
    a = evaluate(EvalConfig(str(models["base"]), suite, limit=6, runtime=Runtime(batch_size=8)), store)
    b = evaluate(EvalConfig(str(models["base"]), suite, limit=5, runtime=Runtime(batch_size=8)), store)
    with pytest.raises(DataError, match="different limit"):
        compare(a, b)
    with pytest.raises(DataError, match="one side only"):
        pair(a.tasks[0], b.tasks[0])
    tampered = replace(b.tasks[0], items=tuple(replace(i, doc_hash="0" * 64) for i in b.tasks[0].items))
    with pytest.raises(DataError, match="doc_hash mismatch"):
        pair(replace(a.tasks[0], items=a.tasks[0].items[:5]), tampered)


def test_full_is_the_headline_whenever_computed_and_the_gate_uses_it(models, setup, store, tmp_path):
    """`--estimators k1,full`: the report, the leaderboard row and the gate's max_kl all use `full`."""
    import numpy as np
    import pandas as pd

    policy = tmp_path / "kl.toml"
    policy.write_text("max_kl = 1000.0\nmax_aggregate_drop = 100.0\nmode = 'significant-drop'\n")
    outcome = score(
        config_of(models, setup, "damaged", estimators=("k1", "full")), store=store, out=tmp_path / "run", gate=policy
    )
    kl = outcome.report.kl
    assert [e.name for e in kl.estimates] == ["k1", "full"] and kl.headline == "full"
    full = kl.headline_estimate
    assert full.name == "full" and full.mean != kl.estimates[0].mean  # k1 and full differ on these samples
    rule = next(r for r in outcome.gate.rules if r.rule == "kl")
    assert "(full)" in rule.reason and rule.estimate == pytest.approx(full.mean, rel=1e-12)
    row = pd.read_csv(tmp_path / "run" / "leaderboard_row.csv").iloc[0]
    assert row["kl_estimator"] == "full" and np.isclose(row["kl"], full.mean)
    assert "full (headline)" in (tmp_path / "run" / "report.md").read_text()


def test_an_allowed_template_mismatch_is_recorded_and_warned_about(tiny_model, custom_suites, store, tmp_path):
    """`--allow-template-mismatch`: the run goes on; the difference is in the KL result, first among the
    report's warnings and in report.md, and survives reading the folder back."""
    from tests.tiny import variant

    ckpt = variant(tiny_model, tmp_path / "ckpt", chat_template="{% for m in messages %}{{ m.content }}{% endfor %}")
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "The quick brown fox"}\n{"prompt": "Seven red apples"}\n')
    config = ScoreConfig.build(
        str(tiny_model), str(ckpt), str(prompts), suite=custom_suites("one", {"fb_piqa_lite": "acc"}), limit=2,
        n_prompts=2, max_new_tokens=4, noise_floor_prompts=0, batch_size=8, allow_template_mismatch=True,
    )  # fmt: skip
    report = score(config, store=store, out=tmp_path / "run").report
    difference = "chat templates differ: base has none, checkpoint has one"
    assert report.kl.template_mismatch == difference
    assert report.warnings[0].startswith(difference + ", measured anyway (--allow-template-mismatch)")
    assert f"> **Warning:** {difference}" in (tmp_path / "run" / "report.md").read_text()
    back = load_report(tmp_path / "run")
    assert (back.kl.template_mismatch, back.warnings) == (difference, report.warnings)
