"""The package's shape, as docs/architecture.md describes it: few top-level modules, small functions,
thin commands, a docstring on every package. (The import layers are `lint-imports`' job in CI.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "forgetbench"
COMMAND_MODULES = ("jobs.py", "gate.py", "board.py", "catalog.py")


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node, node.end_lineno - node.lineno + 1


def test_at_most_three_modules_beside_the_public_init():
    top = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 3, top


def test_no_function_over_60_lines():
    long = [f"{p.relative_to(PACKAGE)}:{f.name} ({n})" for p in PACKAGE.rglob("*.py") for f, n in functions(p) if n > 60]
    assert long == []


def test_no_command_function_over_30_lines():
    commands = [
        (p.name, f.name, n)
        for p in (PACKAGE / "cli" / m for m in COMMAND_MODULES)
        for f, n in functions(p)
        if any(isinstance(d, ast.Call) and getattr(d.func, "attr", "") == "command" for d in f.decorator_list)
    ]
    assert len(commands) >= 11  # eval, kl, score, demo, gate, suites, models list/pull, leaderboard add/fit/plot/render
    assert [c for c in commands if c[2] > 30] == []


@pytest.mark.parametrize("init", sorted(PACKAGE.rglob("__init__.py")), ids=lambda p: str(p.parent.relative_to(PACKAGE.parent)))
def test_every_package_says_what_it_is(init):
    doc = ast.get_docstring(ast.parse(init.read_text()))
    assert doc and len(doc.split()) >= 12, init
