"""Backends as plugins, installed the way pip installs them: a `<dist>.dist-info/` folder with an
`entry_points.txt` (group `forgetbench.backends`) beside the package, on the path of a `forgetbench`
subprocess. The toy backend (`tests/backends/toy_plugin`) runs `kl` end to end with its own flag; a
collision, a plugin that cannot be imported and a flag of another backend are each one line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from forgetbench.backends.divergences import every_name
from tests.command import fb

TOY = Path(__file__).parent / "toy_plugin"


def install(
    root: Path,
    dist: str,
    entry_points: dict[str, str],
    modules: dict[str, str] | None = None,
    group: str = "forgetbench.backends",
) -> Path:
    """`root` holding the toy package, `modules` (name → source) and distribution `dist` 0.1 whose entry
    points in `group` are `entry_points`; returned for PYTHONPATH."""
    if not (root / "toy_plugin").exists():
        shutil.copytree(TOY, root / "toy_plugin", ignore=shutil.ignore_patterns("__pycache__"))
    for name, source in (modules or {}).items():
        (root / f"{name}.py").write_text(source)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}")
    return root


def on_path(site: Path, **env: str) -> dict[str, str]:
    """The environment of a forgetbench whose Python finds what `install` put in `site`, and `env`."""
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH", "")])), **env}


def one_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """The one `forgetbench: error:` line of a failed run (exit `code`, no traceback), holding `needles`."""
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("forgetbench: error:")]
    assert len(errors) == 1, proc.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def toy(tmp_path) -> Path:
    return install(tmp_path / "site", "toy-plugin", {"toy": "toy_plugin.backend:ToyBackend"})


@pytest.fixture
def prompts(tmp_path) -> Path:
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps({"prompt": t}) for t in ("The quick brown fox", "What is two plus two?", "Fog forms")))
    return path


def test_a_toy_backend_from_an_entry_point_runs_kl_end_to_end(toy, tiny_model, prompts, tmp_path):
    record, out = tmp_path / "toy.json", tmp_path / "run"
    proc = fb(
        "kl", str(tiny_model), str(tiny_model), "--prompts", str(prompts), "--n-prompts", "2", "--max-new-tokens", "4",
        "--noise-floor-prompts", "0", "--batch-size", "2", "--backend", "toy", "--toy-tag", "x",
        "--store", str(tmp_path / "store"), "--out", str(out),
        env=on_path(toy, TOY_RECORD=str(record)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((out / "kl.json").read_text())["backend"] == "toy"
    recorded = json.loads(record.read_text())
    assert {k: recorded[k] for k in ("toy_tag", "backend")} == {"toy_tag": "x", "backend": "toy"}
    # the plugin's own `score` (the protocol's signature) was asked for every divergence in the main pass
    assert recorded["score"][0] == list(every_name())
    assert "warning" not in proc.stderr


def test_help_lists_an_installed_plugins_flags(toy):
    installed, bare = fb("kl", "--help", env=on_path(toy, COLUMNS="200")), fb("kl", "--help", env={"COLUMNS": "200"})
    assert installed.returncode == bare.returncode == 0
    assert "--toy-tag" in installed.stdout and "Toy backend" in installed.stdout and "Plugins: toy." in installed.stdout
    assert "--toy-tag" not in bare.stdout and "--tensor-parallel-size" in bare.stdout


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--toy-tag", "x"], "--toy-tag is an option of --backend toy, not of --backend hf"),
        (["--backend", "toy", "--tensor-parallel-size", "1"], "--tensor-parallel-size is an option of --backend vllm"),
        (["--full-scorer", "vllm"], "--full-scorer is an option of --backend vllm, not of --backend hf"),
    ],
)
def test_a_flag_of_another_backend_is_refused(toy, tiny_model, prompts, tmp_path, args, needle):
    proc = fb(
        "kl", str(tiny_model), str(tiny_model), "--prompts", str(prompts), *args, "--store", str(tmp_path / "s"), env=on_path(toy)
    )
    one_error(proc, 2, needle)
    assert not (tmp_path / "s").exists()


def test_a_plugin_that_cannot_be_imported_is_one_line_and_exit_3(tmp_path, tiny_model, prompts):
    site = install(
        tmp_path / "site", "broken-plugin", {"bad": "broken_plugin:Backend"}, {"broken_plugin": "import no_such_module_here\n"}
    )
    proc = fb("kl", str(tiny_model), str(tiny_model), "--prompts", str(prompts), "--backend", "bad", env=on_path(site))
    one_error(proc, 3, "backend 'bad'", "distribution broken-plugin 0.1", "ModuleNotFoundError", "no_such_module_here")
    # another backend still runs, and says once which plugin it left out
    proc = fb("kl", str(tiny_model), str(tiny_model), "--prompts", str(tmp_path / "missing.jsonl"), env=on_path(site))
    one_error(proc, 2, "missing.jsonl")
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("forgetbench: warning:")]
    assert len(warnings) == 1 and "broken-plugin 0.1" in warnings[0], proc.stderr


def test_a_plugin_may_not_replace_a_built_in(tmp_path, tiny_model, prompts):
    site = install(tmp_path / "site", "toy-collide", {"hf": "toy_plugin.backend:ToyBackend"})
    proc = fb("kl", str(tiny_model), str(tiny_model), "--prompts", str(prompts), "--backend", "hf", env=on_path(site))
    one_error(proc, 3, "backend 'hf' of distribution toy-collide 0.1", "collides with the backend 'hf' of forgetbench")
