"""Backends by name, as lazy "module:object" entries (lm-eval's registry style): a new backend is one
module and one `register_backend` line, and naming a backend imports only its own module."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from forgetbench.core.errors import UserInputError

if TYPE_CHECKING:
    from forgetbench.backends.base import Backend
    from forgetbench.core.config import Runtime

_ENTRIES: dict[str, str] = {}


def register_backend(name: str, target: str) -> None:
    """Register `target` ("package.module:ClassName", constructed with a `Runtime`) as backend `name`."""
    _ENTRIES[name] = target


def backend_names() -> tuple[str, ...]:
    """Registered backend names."""
    return tuple(_ENTRIES)


def open_backend(runtime: Runtime) -> Backend:
    """A backend for `runtime` (its constructor checks, before any compute, that it can run: installed,
    device present, options valid). Use it as a context manager so models and engines are released."""
    target = _ENTRIES.get(runtime.backend)
    if target is None:
        raise UserInputError(f"unknown backend {runtime.backend!r}; available: {', '.join(_ENTRIES)}")
    module, _, obj = target.partition(":")
    cls = getattr(importlib.import_module(module), obj)
    return cls(runtime)


register_backend("hf", "forgetbench.backends.hf.backend:HFBackend")
register_backend("vllm", "forgetbench.backends.vllm.backend:VLLMBackend")
