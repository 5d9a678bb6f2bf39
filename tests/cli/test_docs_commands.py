"""The documentation's command lines are the CLI's: every `forgetbench ...` line in README.md and docs/
names a real command, and every option it shows is one of that command's; every command's --help runs.

A synopsis line (`forgetbench score BASE CKPT [--limit N]`) is checked option by option; a concrete line
(no placeholder, no bracket) is also parsed in full, as the shell would pass it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from forgetbench.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAM = re.compile(r"(?:^|[\s`(])(?:\.venv/bin/|\.venv-vllm/bin/)?forgetbench\s+([a-z][^`\n#]*)")


def _root() -> Any:
    """The click group behind the Typer app (typer may vendor its own click: groups are told by `commands`)."""
    return typer.main.get_command(app)


def _is_group(command: Any) -> bool:
    return hasattr(command, "commands")


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    out = []
    for name, command in group.commands.items():
        out.append(((*path, name), command))
        if _is_group(command):
            out.extend(_commands(command, (*path, name)))
    return out


def _lines() -> list[tuple[str, str, bool]]:
    """(where, text after `forgetbench `, whether it is a code block's line) of every command line in code
    blocks and inline code (an inline `forgetbench plan` names a command; a block's line is a whole one)."""
    found = []
    for doc in DOCS:
        text = doc.read_text()
        blocks = [b.replace("\\\n", " ") for b in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)]  # shell continuations
        inline = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
        for chunks, whole in ((blocks, True), (inline, False)):
            for line in (line for chunk in chunks for line in chunk.splitlines()):
                if "import forgetbench" in line:
                    continue
                for match in PROGRAM.finditer(line):
                    found.append((f"{doc.name}: {line.strip()[:80]}", match.group(1).strip(), whole))
    return found


def _resolve(words: list[str]) -> tuple[Any, list[str], list[str]]:
    """The command the words name, its path, and the words after it."""
    command = _root()
    path: list[str] = []
    while _is_group(command) and words and words[0] in command.commands:
        path.append(words[0])
        command = command.commands[words.pop(0)]
    return command, path, words


def _options(command: Any) -> set[str]:
    return {o for p in command.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}


LINES = _lines()


def test_the_docs_show_command_lines():
    assert len(LINES) >= 40, LINES


@pytest.mark.parametrize(("where", "text", "whole"), LINES, ids=[w for w, _, _ in LINES])
def test_a_documented_command_line_is_the_clis(where: str, text: str, whole: bool):
    words = text.replace("…", " ").split()
    command, path, rest = _resolve(words)
    assert path, f"{where}: no command named {words[:1]}"
    assert not _is_group(command), f"{where}: {' '.join(path)} needs a subcommand"
    known = _options(command)
    for word in rest:
        for option in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", word):
            if option.startswith("--") or len(option) == 2:
                assert option in known, f"{where}: `forgetbench {' '.join(path)}` has no option {option}"
    concrete = whole and "--help" not in rest and not re.search(r"[\[\]|{}<>…]|\.\.\.|\b[A-Z][A-Z_]{2,}\b", text)
    if concrete:
        try:
            args = shlex.split(text)
        except ValueError:
            return
        ctx = command.make_context(" ".join(["forgetbench", *path]), args[len(path) :], resilient_parsing=False)
        assert ctx.command is command


@pytest.mark.parametrize(("path", "command"), _commands(_root()), ids=lambda v: " ".join(v) if isinstance(v, tuple) else "")
def test_every_command_has_help(path, command):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
