"""Plugins by name, for any kind of plugin (backends today), in the shape of lm-eval's registry
(`lm_eval/api/registry.py`):

- Built-ins are registered lazily, as "module:attr" targets (`Registry.lazy`): naming one imports only
  its module. The object also registers itself with the `@registry.register(name)` decorator; that
  is the same target, so the lazy entry simply becomes the object.
- Third-party packages add plugins through an entry-point group (in their pyproject.toml:
  `[project.entry-points."<group>"]`, `name = "package.module:Class"`). The group is read (metadata
  only, nothing imported) the first time a name is looked up or the names are listed; a plugin's
  module is imported when its name is asked for (`get`) or every plugin is (`load_all`).
- Every object is checked when it is registered: a subclass of the registry's base class, and the
  registry's own `check`.
- A name has one owner: a second object under a taken name (a plugin under a built-in's name, two
  distributions under one name) is refused, never a silent replacement.

Errors: an unknown name is a `UserInputError` (exit 2, the names available); a plugin that cannot be
used (its import fails, its object has the wrong type, its name is taken) is a `PluginError` (exit 3)
naming the plugin, its entry point and its distribution.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Generic, TypeVar

from forgetbench.core.errors import EXIT_RUNTIME, ForgetbenchError, UserInputError

T = TypeVar("T")


class PluginError(ForgetbenchError):
    """A registered plugin that cannot be used: its import fails, its object is of the wrong type, or its
    name is another's (exit 3: the installation, not the command, needs fixing)."""

    exit_code = EXIT_RUNTIME


@dataclass(frozen=True)
class Lazy:
    """A registered name not loaded yet: `target` is "module:attr"; `origin` says where it comes from."""

    target: str
    origin: str
    entry_point: EntryPoint | None = None


def _target_of(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', '?')}"


def _origin(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    where = f"distribution {dist.name} {dist.version}" if dist is not None else "an unnamed distribution"
    return f"{where} (entry point {ep.name} = {ep.value})"


class Registry(Generic[T]):
    """Names → objects of one kind (see the module docstring). `kind` names them in messages ("backend"),
    `group` is the entry-point group of third-party plugins, `base` the class every object subclasses, and
    `check(name, obj)` (optional) raises `PluginError` on whatever else the kind requires."""

    def __init__(self, kind: str, group: str, base: type, check: Callable[[str, Any], None] | None = None) -> None:
        self.kind, self.group, self.base, self._check = kind, group, base, check
        self._entries: dict[str, Any] = {}
        """Name → a `Lazy` entry or the loaded object."""
        self._broken: dict[str, PluginError] = {}
        """Names whose plugin cannot be used, with why."""
        self._discovered = False

    # registration ---------------------------------------------------------------------------------

    def lazy(self, name: str, target: str, origin: str = "forgetbench (built in)") -> None:
        """Register `target` ("module:attr") as `name` without importing it."""
        self._add(name, Lazy(target, origin))

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated object as `name` (checked now)."""

        def decorate(obj: T) -> T:
            self._verify(name, obj)
            self._add(name, obj)
            return obj

        return decorate

    def _add(self, name: str, entry: Any) -> None:
        current = self._entries.get(name)
        if current is None or current is entry:
            self._entries[name] = entry
            return
        old = current.target if isinstance(current, Lazy) else _target_of(current)
        new = entry.target if isinstance(entry, Lazy) else _target_of(entry)
        if old == new:  # the same target: the decorator of a lazy entry's object, or an entry point to it
            if not isinstance(entry, Lazy):
                self._entries[name] = entry
            return
        where = current.origin if isinstance(current, Lazy) else old
        by = entry.origin if isinstance(entry, Lazy) else new
        raise PluginError(
            f"{self.kind} {name!r} of {by} collides with the {self.kind} {name!r} of {where}; "
            f"a plugin may not replace another: rename its entry point or uninstall it"
        )

    def _verify(self, name: str, obj: Any) -> None:
        if not (isinstance(obj, type) and issubclass(obj, self.base)):
            raise PluginError(f"{obj!r}, registered as {self.kind} {name!r}, is not a subclass of {self.base.__qualname__}")
        if self._check is not None:
            self._check(name, obj)

    # discovery ------------------------------------------------------------------------------------

    def discover(self) -> None:
        """Read the entry-point group once (metadata only): each plugin becomes a lazy entry; one whose name
        is taken is recorded as broken (`get` raises its collision, `load_all` reports it)."""
        if self._discovered:
            return
        self._discovered = True
        seen: set[tuple[str, str]] = set()
        for ep in entry_points(group=self.group):
            if (ep.name, ep.value) in seen:  # the same distribution found twice on the path
                continue
            seen.add((ep.name, ep.value))
            try:
                self._add(ep.name, Lazy(ep.value, _origin(ep), ep))
            except PluginError as exc:
                self._broken.setdefault(ep.name, exc)

    def broken(self) -> dict[str, PluginError]:
        """The names whose plugin cannot be used, as found so far (after discovery: collisions), with why."""
        self.discover()
        return dict(self._broken)

    def names(self) -> tuple[str, ...]:
        """Every registered name, built-ins first, then plugins (none of them imported)."""
        self.discover()
        return tuple(dict.fromkeys([*self._entries, *self._broken]))

    # lookup ---------------------------------------------------------------------------------------

    def get(self, name: str) -> T:
        """The object registered as `name`, imported now if it was lazy. UserInputError for an unknown name,
        PluginError for one whose plugin cannot be used."""
        self.discover()
        if name in self._broken:
            raise self._broken[name]
        entry = self._entries.get(name)
        if entry is None:
            raise UserInputError(f"unknown {self.kind} {name!r}; available: {', '.join(self.names()) or 'none'}")
        if isinstance(entry, Lazy):
            try:
                obj = self._load(name, entry)
            except PluginError as exc:
                self._broken[name] = exc
                raise
            self._entries[name] = obj
            return obj
        return entry

    def _load(self, name: str, entry: Lazy) -> Any:
        what = f"{self.kind} {name!r} of {entry.origin}"
        try:
            if entry.entry_point is not None:
                obj = entry.entry_point.load()
            else:
                module, _, attr = entry.target.partition(":")
                obj = getattr(importlib.import_module(module), attr)
        except PluginError as exc:  # raised by a registration while its module was imported
            raise PluginError(f"{what} cannot be loaded: {exc}") from None
        except Exception as exc:  # any failure of third-party code is this plugin's
            raise PluginError(f"{what} cannot be loaded: {type(exc).__name__}: {exc}") from None
        try:
            self._verify(name, obj)
            current = self._entries.get(name)
            if current is not entry and current is not obj:  # its module registered something else under this name
                self._add(name, obj)
        except PluginError as exc:
            raise PluginError(f"{what} cannot be used: {exc}") from None
        return obj

    def load_all(self) -> tuple[dict[str, T], dict[str, PluginError]]:
        """Every registered object, loaded (name → object), and every plugin that cannot be used (name → why)."""
        loaded: dict[str, T] = {}
        broken: dict[str, PluginError] = {}
        for name in self.names():
            try:
                loaded[name] = self.get(name)
            except PluginError as exc:
                broken[name] = exc
        return loaded, broken
