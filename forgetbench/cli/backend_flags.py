"""The backends' own command-line flags, built from their options dataclasses (`backends.base.BackendOptions`)
for every registered backend, plugins included: a field `max_model_len: int | None = field(default=None,
metadata={"help": ...})` is the flag `--max-model-len` (its type from the annotation: str, int, float,
bool as `--x/--no-x`, a Literal as choices, each optionally None), listed under the backend's panel.

A flag of a backend other than the chosen one is refused (exit 2). A plugin that cannot be used (its
import fails, an option has no flag type, a flag is already another's) offers no flags; naming it with
`--backend` says why (exit 3), and a command that runs models with another backend warns of it once.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Optional

import typer

from forgetbench.backends.registry import backends, options_class
from forgetbench.core.errors import UserInputError
from forgetbench.core.registry import PluginError

SCALARS = (str, int, float, bool)
BUILT_IN_HELP = "hf (transformers) or vllm (needs vLLM installed; see README)."


@dataclass(frozen=True)
class Flag:
    """One backend option as a command-line flag."""

    backend: str
    field: str
    """The options dataclass's field."""
    param: str
    """The parameter's name in a command's namespace (backend-qualified: no clash with the common options)."""
    flags: tuple[str, ...]
    """What a user types (`--enforce-eager`, `--no-enforce-eager`)."""
    annotation: Any
    default: Any
    kl: bool
    """Offered only by the commands that measure KL (`kl`, `score`, `sweep`)."""


def _flag_type(hint: Any) -> tuple[Any, bool]:
    """(the type Typer parses, whether it is a bool) of a field annotation; TypeError when it is no flag type."""
    args = typing.get_args(hint)
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args
    inner = next(a for a in args if a is not type(None)) if optional and len(args) == 2 else hint
    if optional and len(args) != 2:
        raise TypeError(hint)
    literal = typing.get_origin(inner) is Literal and all(isinstance(a, str) for a in typing.get_args(inner))
    if inner not in SCALARS and not literal:
        raise TypeError(hint)
    return (Optional[inner] if optional else inner), inner is bool


def _flags_of(name: str, options: Any) -> list[Flag]:
    """The flags of backend `name`'s options dataclass (PluginError when a field has no flag type)."""
    hints = typing.get_type_hints(options)
    panel = options.panel or f"{name} backend"
    out = []
    for f in dataclasses.fields(options):
        try:
            kind, is_bool = _flag_type(hints[f.name])
        except TypeError:
            raise PluginError(
                f"backend {name!r}: option {f.name} has type {hints[f.name]}, which is no flag type "
                "(str, int, float, bool, a Literal of strings, or an Optional of one)"
            ) from None
        if f.default is dataclasses.MISSING:
            raise PluginError(f"backend {name!r}: option {f.name} has no default (`field(default=...)`)")
        kebab = "--" + f.name.replace("_", "-")
        decls = (f"{kebab}/--no-{kebab[2:]}",) if is_bool else (kebab,)
        option = typer.Option(*decls, help=f.metadata.get("help", ""), rich_help_panel=panel, show_default=f.default is not None)
        param = "_" + re.sub(r"\W", "_", name) + "__" + f.name
        flags = (kebab, f"--no-{kebab[2:]}") if is_bool else (kebab,)
        out.append(Flag(name, f.name, param, flags, Annotated[kind, option], f.default, bool(f.metadata.get("kl"))))
    return out


class BackendFlags:
    """Every registered backend's flags; the plugins that cannot be used, with why."""

    def __init__(self, names: tuple[str, ...], flags: list[Flag], broken: dict[str, PluginError]) -> None:
        self.names, self.flags, self.broken = names, flags, broken
        self._warned = False

    @classmethod
    def build(cls) -> BackendFlags:
        """Every backend's flags (built-ins first; a built-in's options are read without importing its
        backend, a plugin is loaded). A flag another backend has taken makes the later backend unusable (a
        plugin may not shadow another's option)."""
        flags: list[Flag] = []
        taken: dict[str, str] = {}
        broken = backends.broken()
        for name in backends.names():
            if name in broken:
                continue
            try:
                own = _flags_of(name, options_class(name))
                clash = next((f for f in own for x in f.flags if x in taken), None)
                if clash is not None:
                    raise PluginError(
                        f"backend {name!r}: its option {clash.flags[0]} is already backend {taken[clash.flags[0]]!r}'s"
                    )
            except PluginError as exc:
                broken[name] = exc
                continue
            flags += own
            taken |= {x: name for f in own for x in f.flags}
        return cls(backends.names(), flags, broken)

    def choice(self) -> Any:
        """The `--backend` type: a Literal of every registered name."""
        return Literal.__getitem__(self.names)

    def help(self) -> str:
        plugins = [n for n in self.names if n not in ("hf", "vllm")]
        return BUILT_IN_HELP + (f" Plugins: {', '.join(plugins)}." if plugins else "")

    def opts(self, kl: bool) -> list[tuple[str, Any, Any]]:
        """(name, annotation, default) of the flags offered where KL is measured (`kl`) or of the others."""
        return [(f.param, f.annotation, f.default) for f in self.flags if f.kl == kl]

    def refuse_clashes(self, flags_of: dict[str, set[str]]) -> set[str]:
        """The parameters of a command's backend flags (`flags_of`: parameter → flags, of every option of the
        command) that clash with its other options: each such backend is made unusable, its flags dropped."""
        mine = {f.param: f for f in self.flags}
        others = {x for p, xs in flags_of.items() if p not in mine for x in xs}
        for f in (mine[p] for p in flags_of if p in mine):
            hit = next((x for x in f.flags if x in others), None)
            if hit is not None and f.backend not in self.broken:
                self.broken[f.backend] = PluginError(f"backend {f.backend!r}: its option {hit} is already a flag of forgetbench")
        return {f.param for f in self.flags if f.backend in self.broken}

    def options(self, a: Any) -> Any:
        """The chosen backend's options from a command's parsed values (`a.backend`, `a.given`: the parameters
        given on the command line). A flag of another backend is a UserInputError (exit 2); a chosen
        backend that cannot be used its PluginError (exit 3)."""
        if a.backend in self.broken:
            raise self.broken[a.backend]
        foreign = next((f for f in self.flags if f.backend != a.backend and f.param in a.given), None)
        if foreign is not None:
            raise UserInputError(f"{foreign.flags[0]} is an option of --backend {foreign.backend}, not of --backend {a.backend}")
        self.warn()
        values = {f.field: getattr(a, f.param) for f in self.flags if f.backend == a.backend and hasattr(a, f.param)}
        return backends.get(a.backend).Options(**values)

    def warn(self) -> None:
        """One line on stderr per plugin that cannot be used (once)."""
        if not self._warned:
            for exc in self.broken.values():
                print(f"forgetbench: warning: {exc}", file=sys.stderr)
        self._warned = True
