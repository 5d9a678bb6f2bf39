"""The command line: one clear line and the documented exit codes (docs/architecture.md) for bad input, store left intact."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

from forgetbench.prior.run import NAMESPACE
from tests.command import fb


def _assert_one_line_error(proc: subprocess.CompletedProcess, code: int, needle: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = [
        line for line in proc.stderr.splitlines() if (line.strip() and not line.startswith("forgetbench: ")) or "error" in line
    ]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("forgetbench: error:")]
    assert len(errors) == 1, proc.stderr
    assert needle in errors[0]
    assert "Traceback" not in proc.stderr, lines


def _snapshot(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_help_is_fast_and_lists_commands():
    proc = fb("--help")
    assert proc.returncode == 0 and "eval" in proc.stdout and "suites" in proc.stdout


@pytest.fixture(scope="module")
def filled_store(tiny_model, tmp_path_factory):
    """A store holding one real entry, to prove bad input leaves it untouched."""
    store = tmp_path_factory.mktemp("cli") / "store"
    proc = fb(
        "eval", str(tiny_model), "--suite", "offline-lite", "--limit", "2", "--batch-size", "2", "--store", str(store), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)["tasks"]) == 8
    return store


BAD = [
    (["eval", "/no/such/folder"], 2, "no such file or directory"),
    (["eval", "unknown-model-name"], 2, "unknown model"),
    (["eval", "smollm2-135m", "--suite", "no-such-suite"], 2, "unknown suite"),
    (["eval", "smollm2-135m", "--suite", "offline-code-lite"], 2, "--allow-code-execution"),
    (["eval", "smollm2-135m", "--backend", "nope"], 2, "is not one of"),
    (["models", "pull", "nope"], 2, "unknown embedded model"),
]


@pytest.mark.parametrize("args,code,needle", BAD, ids=[" ".join(b[0][:3]) for b in BAD])
def test_bad_input(args, code, needle, filled_store):
    before = _snapshot(filled_store)
    proc = fb(*args, "--store", str(filled_store)) if args[0] == "eval" else fb(*args)
    _assert_one_line_error(proc, code, needle)
    assert _snapshot(filled_store) == before


@pytest.mark.skipif(find_spec("vllm") is not None, reason="vLLM is installed here")
@pytest.mark.parametrize("command", ["eval", "kl", "score"])
def test_vllm_backend_without_vllm_says_how_to_install(command, filled_store):
    args = {
        "eval": ["eval", "smollm2-135m"],
        "kl": ["kl", "smollm2-135m", "smollm2-135m", "--task", "fb_asdiv_lite"],
        "score": ["score", "smollm2-135m", "smollm2-135m", "--new-task", "fb_asdiv_lite"],
    }[command]
    before = _snapshot(filled_store)
    proc = fb(*args, "--backend", "vllm", "--store", str(filled_store))
    _assert_one_line_error(proc, 2, "scripts/install_vllm.sh")
    assert _snapshot(filled_store) == before


def test_full_scorer_vllm_needs_the_vllm_backend(filled_store):
    proc = fb(
        "kl", "smollm2-135m", "smollm2-135m", "--task", "fb_asdiv_lite", "--full-scorer", "vllm", "--store", str(filled_store)
    )
    _assert_one_line_error(proc, 2, "--full-scorer")


def test_folder_that_is_not_a_model(tmp_path, filled_store):
    proc = fb("eval", str(tmp_path), "--store", str(filled_store))
    _assert_one_line_error(proc, 2, "not a model folder")


def test_corrupt_weights(tiny_copy, filled_store):
    before = _snapshot(filled_store)
    w = tiny_copy / "model.safetensors"
    w.write_bytes(w.read_bytes()[: len(w.read_bytes()) // 2])
    proc = fb("eval", str(tiny_copy), "--store", str(filled_store))
    _assert_one_line_error(proc, 2, "truncated")
    assert _snapshot(filled_store) == before


def test_unwritable_store(tiny_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = fb("eval", str(tiny_model), "--store", str(blocker / "store"))
    _assert_one_line_error(proc, 2, "not writable")


def test_usage_error_exits_2():
    proc = fb("eval")
    assert proc.returncode == 2


def test_models_list_json_shows_embedded_and_derived_models(tmp_path):
    (tmp_path / "models" / "demo-smollm2-135m-asdiv-sft-0123").mkdir(parents=True)
    (tmp_path / "models" / "demo-smollm2-135m-asdiv-sft-0123" / "config.json").write_text("{}")
    (tmp_path / "models" / ".gguf-0123.x1.tmp").mkdir()  # an unfinished build is not a model
    proc = fb("models", "list", "--json", env={"FORGETBENCH_HOME": str(tmp_path)})
    assert proc.returncode == 0
    rows = [(m["name"], m["kind"], m["present"]) for m in json.loads(proc.stdout)]
    assert rows == [("smollm2-135m", "embedded", False), ("gemma3-270m", "embedded", False),
                    ("demo-smollm2-135m-asdiv-sft-0123", "derived", True)]  # fmt: skip


def test_hub_id_without_hub_access_is_a_runtime_error(tmp_path):
    proc = fb("eval", "some-org/some-model@main", "--store", str(tmp_path / "s"), env={"HF_HUB_OFFLINE": "1"})
    _assert_one_line_error(proc, 3, "could not fetch from the Hugging Face hub")


def test_interrupt_exits_130_and_keeps_only_complete_entries(tiny_model, tmp_path, custom_suites):
    """Ctrl-C mid-run: exit 130, no half-written entry; the finished task is served from the store."""
    import signal
    import time

    # A quick task, then a long one (all 3270 BoolQ passages) to interrupt.
    custom_suites("quick-then-long", {"fb_piqa_lite": "acc", "fb_boolq": "acc"})
    custom_suites("quick", {"fb_piqa_lite": "acc"})
    store = tmp_path / "store"
    common = [str(tiny_model), "--batch-size", "2", "--store", str(store)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "forgetbench.cli", "eval", *common, "--suite", "quick-then-long"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    for line in proc.stderr:
        if "[2/2]" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 130, rest
    assert "interrupted" in rest and "Traceback" not in rest
    entries = [p for p in (store / NAMESPACE).glob("*/*") if p.is_dir()]
    assert len(entries) == 1
    assert {f.name for f in entries[0].iterdir()} == {"result.json", "items.parquet"}
    assert not list(store.rglob("*.tmp"))
    again = fb("eval", *common, "--suite", "quick", "--json")
    assert again.returncode == 0, again.stderr
    assert [t["cached"] for t in json.loads(again.stdout)["tasks"]] == [True]


def test_warnings_are_not_silenced_process_wide():
    import warnings

    from forgetbench.cli.console import quiet_libraries

    before = list(warnings.filters)
    quiet_libraries()
    assert warnings.filters == before


# Every check before compute: bad KL inputs stop `score` before any suite runs, nothing is stored.


@pytest.fixture
def fresh(tmp_path, tiny_model):
    """A tiny model, a good prompts file and an empty store."""
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "The quick brown fox"}\n{"prompt": "Seven red apples"}\n')
    return {"model": str(tiny_model), "prompts": prompts, "store": tmp_path / "store"}


def _entries(store) -> list:
    return [p for p in store.rglob("*") if p.is_file() and ".locks" not in p.parts] if store.exists() else []


BEFORE_COMPUTE = [
    (["--prompt-field", "text"], "no column 'text'"),
    (["--max-new-tokens", "0"], "--max-new-tokens must be a whole number ≥ 1"),
    (["--n-prompts", "0"], "--n-prompts must be a whole number ≥ 1"),
    (["--estimators", "k2"], "--estimators must be one of"),
    (["--noise-floor-prompts", "-2"], "--noise-floor-prompts must be a whole number ≥ 0"),
    (["--batch-size", "0"], "--batch-size must be a whole number ≥ 1"),
    (["--device", "tpu"], "is not one of"),
]


@pytest.mark.parametrize("extra,needle", BEFORE_COMPUTE, ids=[e[0][0] + "=" + e[0][1] for e in BEFORE_COMPUTE])
def test_score_refuses_bad_kl_input_before_any_suite_runs(fresh, extra, needle):
    import time

    start = time.perf_counter()
    proc = fb(
        "score", fresh["model"], fresh["model"], "--new-task", str(fresh["prompts"]), "--store", str(fresh["store"]), *extra
    )
    _assert_one_line_error(proc, 2, needle)
    assert time.perf_counter() - start < 30 and _entries(fresh["store"]) == []


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is visible here")
def test_cuda_on_a_machine_without_one_is_a_usage_error(fresh):
    proc = fb("eval", fresh["model"], "--device", "cuda", "--store", str(fresh["store"]))
    _assert_one_line_error(proc, 2, "no CUDA device")
    assert _entries(fresh["store"]) == []


@pytest.mark.parametrize("blocker", ["prior-v3", ".locks"])
def test_a_file_where_the_store_keeps_a_folder_is_refused_before_compute(fresh, blocker):
    fresh["store"].mkdir()
    (fresh["store"] / blocker).write_text("x")
    proc = fb("eval", fresh["model"], "--suite", "offline-lite", "--limit", "2", "--store", str(fresh["store"]))
    _assert_one_line_error(proc, 2, f"{blocker} is a file where the store keeps a folder")


def test_a_prompt_longer_than_the_context_is_refused_within_seconds(fresh, tmp_path):
    """30,001 tokens against a 1,024-token context: exit 2 naming the prompt, before any model runs."""
    import time

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(fresh["model"])
    ids = tok("The quick brown fox. " * 8000)["input_ids"]
    assert len(ids) > 30_001
    long_prompt = tok.decode(ids[:30_001], skip_special_tokens=True)  # about 30,001 tokens again
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "Seven red apples"}) + "\n" + json.dumps({"prompt": long_prompt}) + "\n")
    start = time.perf_counter()
    proc = fb("kl", fresh["model"], fresh["model"], "--prompts", str(path), "--no-chat-template", "--store", str(fresh["store"]))
    _assert_one_line_error(proc, 2, "prompt 1 of")
    assert "context of 1024 tokens" in proc.stderr and time.perf_counter() - start < 30
    assert _entries(fresh["store"]) == []


MISMATCHES = [
    (
        {"chat_template": "{% for m in messages %}{{ m.content }}{% endfor %}"},
        "chat templates differ: base has none, checkpoint has one",
    ),
    ({"eos": [2, 5]}, "stop tokens differ: base {2} vs checkpoint {2, 5}"),
]


@pytest.mark.parametrize("command", ["kl", "score"])
@pytest.mark.parametrize("change,needle", MISMATCHES, ids=["template", "stop-tokens"])
def test_a_template_or_stop_token_difference_is_refused_before_compute(fresh, tmp_path, command, change, needle):
    """Forward and reverse KL would see different prompts or stop rules: exit 2 naming the difference and the flag."""
    from tests.tiny import variant

    ckpt = variant(Path(fresh["model"]), tmp_path / "ckpt", **change)
    source = ["--prompts" if command == "kl" else "--new-task", str(fresh["prompts"])]
    proc = fb(command, fresh["model"], str(ckpt), *source, "--store", str(fresh["store"]), "--out", str(tmp_path / "run"))
    _assert_one_line_error(proc, 2, needle)
    assert "--allow-template-mismatch" in proc.stderr
    assert _entries(fresh["store"]) == [] and not any((tmp_path / "run").rglob("*"))


def test_allow_template_mismatch_measures_and_records_the_difference(fresh, tmp_path):
    from forgetbench.runs import load_kl
    from tests.tiny import variant

    ckpt = variant(Path(fresh["model"]), tmp_path / "ckpt", eos=[2, 5])
    out = tmp_path / "run"
    args = ["--prompts", str(fresh["prompts"]), "--max-new-tokens", "4", "--noise-floor-prompts", "0"]
    proc = fb(
        "kl", fresh["model"], str(ckpt), *args, "--allow-template-mismatch", "--store", str(fresh["store"]), "--out", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    assert load_kl(out).template_mismatch == "stop tokens differ: base {2} vs checkpoint {2, 5}"
    assert "warning: stop tokens differ" in proc.stdout


def test_nan_weights_stop_eval_naming_the_model_and_the_task(fresh, tmp_path):
    """A model whose head is NaN scores every item 0 in lm-eval; forgetbench stops instead (exit 3), stores nothing."""
    import shutil

    from safetensors.torch import load_file, save_file

    broken = Path(shutil.copytree(fresh["model"], tmp_path / "nan-model"))
    tensors = load_file(broken / "model.safetensors")
    tensors["lm_head.weight"][:, :] = float("nan")
    save_file(tensors, broken / "model.safetensors", metadata={"format": "pt"})
    proc = fb("eval", str(broken), "--suite", "offline-lite", "--limit", "2", "--store", str(fresh["store"]))
    _assert_one_line_error(proc, 3, "nan-model produced NaN/inf log-likelihoods on task fb_mmlu_lite")
    assert not list((fresh["store"] / "prior-v3").rglob("result.json"))


# Paths the user names that cannot be written: one line, exit 2, before any work.

BOARD = Path(__file__).resolve().parents[2] / "leaderboards" / "smollm2-135m-asdiv.csv"


@pytest.fixture
def blocked(tmp_path):
    """A regular file: nothing can be created under it (whatever the user's permissions, root included)."""
    path = tmp_path / "a-file"
    path.write_text("x")
    return path


def test_unwritable_user_paths_are_usage_errors(blocked, score_runs, fresh):
    cases = [
        (["leaderboard", "plot", str(BOARD), "--out", str(blocked / "plot")], "--out"),
        (["leaderboard", "render", str(BOARD), "--out", str(blocked / "board")], "--out"),
        (["leaderboard", "add", str(score_runs["barely"]), "--to", str(blocked / "board.csv")], "--to"),
        (
            ["gate", str(score_runs["barely"]), "--policy", str(_policy(blocked.parent)), "--junit", str(blocked / "j.xml")],
            "--junit",
        ),
        (["kl", fresh["model"], fresh["model"], "--prompts", str(fresh["prompts"]), "--out", str(blocked / "run")], "run folder"),
        (["kl", fresh["model"], fresh["model"], "--prompts", str(fresh["prompts"]), "--out", str(blocked)], "run folder"),
    ]
    for args, needle in cases:
        proc = fb(*args)
        _assert_one_line_error(proc, 2, needle)
    assert _entries(fresh["store"]) == []


def _policy(folder):
    path = folder / "policy.toml"
    path.write_text("max_kl = 1000.0\n")
    return path


def test_a_hub_error_is_one_line(tmp_path):
    proc = fb("eval", "some-org/some-model", "--store", str(tmp_path / "s"), env={"HF_HUB_OFFLINE": "1"})
    _assert_one_line_error(proc, 3, "could not fetch from the Hugging Face hub")
    assert all(line.startswith("forgetbench: ") for line in proc.stderr.strip().splitlines()), proc.stderr


def test_eval_outside_a_git_checkout_prints_no_library_noise(tiny_model, tmp_path):
    """No "fatal: not a git repository" from lm-eval, no tqdm bar of its own: only forgetbench's lines."""
    proc = subprocess.run(
        [sys.executable, "-m", "forgetbench.cli", "eval", str(tiny_model), "--suite", "offline-lite", "--limit", "2",
         "--store", str(tmp_path / "store")],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "fatal" not in proc.stderr and "it/s" not in proc.stderr
    assert all(line.startswith("forgetbench: ") for line in proc.stderr.splitlines() if line.strip()), proc.stderr


def test_the_score_table_fits_80_columns(score_runs):
    import io

    from rich.console import Console

    from forgetbench.cli.render import score_summary
    from forgetbench.runs import load_report

    out = io.StringIO()
    Console(file=out, width=80).print(score_summary(load_report(score_runs["damaged"])))
    table = [line for line in out.getvalue().splitlines() if line.strip().startswith("fb_")]
    assert len(table) == 2 and all(len(line) <= 80 and line.rstrip().endswith(tuple("0123456789")) for line in table)
    assert all("…" not in line and line.count("[") == 1 and "]" in line for line in table)  # CI cells whole


@pytest.fixture
def bad_checkpoints(tmp_path, tiny_model):
    """An adapter declaring another base (a sibling: the base's config and tokenizer, other weights), one
    targeting a module the base lacks, one whose `r` contradicts its tensors, one still being written, an
    empty folder: each a CKPT that must stop `score` and `sweep` with one line."""
    import shutil

    from tests.models.test_adapter_base import sibling
    from tests.tiny import make_lora

    good = make_lora(tiny_model, tmp_path / "good")

    def edited(name: str, **changes) -> str:
        folder = Path(shutil.copytree(good, tmp_path / name))
        cfg = json.loads((folder / "adapter_config.json").read_text())
        (folder / "adapter_config.json").write_text(json.dumps({**cfg, **changes}))
        return str(folder)

    partial = Path(shutil.copytree(good, tmp_path / "run" / "checkpoint-20"))
    (partial / "adapter_model.safetensors").unlink()
    shutil.copytree(good, tmp_path / "run" / "checkpoint-10")
    (tmp_path / "empty").mkdir()
    return {
        "another base": (
            edited("other", base_model_name_or_path=str(sibling(tiny_model, tmp_path / "sibling"))),
            "whose weights differ from the base",
        ),
        "config": (edited("rank", r=8), "are of rank 4, but adapter_config.json r is 8"),
        "modules": (edited("modules", target_modules=["q_proj", "wq"]), "targets modules the base"),
        "being written": (str(tmp_path / "run"), "checkpoint-20: adapter weights missing"),
        "empty": (str(tmp_path / "empty"), "empty"),
    }


@pytest.mark.parametrize("case", ["another base", "modules", "config", "being written", "empty"])
def test_bad_checkpoints_are_one_line_exit_2_and_nothing_written(fresh, bad_checkpoints, case, tmp_path):
    ckpt, needle = bad_checkpoints[case]
    command = "sweep" if case in ("being written", "empty") else "score"
    out = tmp_path / "out"
    proc = fb(
        command, fresh["model"], ckpt, "--new-task", str(fresh["prompts"]), "--store", str(fresh["store"]), "--out", str(out)
    )
    _assert_one_line_error(proc, 2, needle)
    assert _entries(fresh["store"]) == [] and (not out.exists() or list(out.iterdir()) == [])


def test_view_prints_the_page_and_writes_it_for_an_older_run(score_runs, tmp_path):
    """`view` prints the page's path (no browser here: it says so); a run folder from before pages were written
    gets its page from its saved files; anything else is one line, exit 2."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(score_runs["barely"], run)
    (run / "report.html").unlink()
    proc = fb("view", str(run), env={"DISPLAY": "", "WAYLAND_DISPLAY": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str((run / "report.html").resolve()) and "no browser" in proc.stderr
    assert (run / "report.html").read_text() == (score_runs["barely"] / "report.html").read_text()
    proc = fb("view", str(run / "report.html"), "--no-open")
    assert proc.returncode == 0 and proc.stderr == ""
    _assert_one_line_error(fb("view", str(tmp_path / "nope")), 2, "no such run folder")
    _assert_one_line_error(fb("view", str(tmp_path)), 2, "not a forgetbench run folder")
    (tmp_path / "kl-run").mkdir()
    (tmp_path / "kl-run" / "kl.json").write_text("{}")
    _assert_one_line_error(fb("view", str(tmp_path / "kl-run")), 2, "kl.json")  # a broken result file: refused, named
