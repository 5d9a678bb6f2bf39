"""Backends by name: the `backends` registry (`core.registry.Registry`) of `BackendBase` subclasses.

A backend is one folder: its class, decorated `@backends.register("<name>")`, with its own options
dataclass as `Options` (`base.BackendOptions`). The built-ins are listed below as lazy "module:Class"
targets, so naming a backend imports only its own module (`forgetbench --help` and `hf` runs never
import vLLM's side); a third-party package adds one through the entry-point group
`forgetbench.backends` (docs/architecture.md, "How to add a backend").
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

from forgetbench.backends.base import BackendBase, BackendOptions
from forgetbench.core.registry import PluginError, Registry

if TYPE_CHECKING:
    from forgetbench.backends.base import Backend
    from forgetbench.core.config import Runtime

GROUP = "forgetbench.backends"
"""The entry-point group third-party backends register in."""


def _check(name: str, cls: Any) -> None:
    """A backend's `name` is the name it is registered under, and its `Options` a `BackendOptions` dataclass."""
    if getattr(cls, "name", None) != name:
        raise PluginError(f"{cls.__qualname__} is registered as backend {name!r} but its name is {getattr(cls, 'name', None)!r}")
    options = getattr(cls, "Options", None)
    if not (isinstance(options, type) and issubclass(options, BackendOptions) and dataclasses.is_dataclass(options)):
        raise PluginError(f"{cls.__qualname__}.Options must be a dataclass subclassing BackendOptions (got {options!r})")
    listed, own = BUILT_IN_OPTIONS.get(name), f"{options.__module__}:{options.__qualname__}"
    if listed not in (None, own) and cls.__module__.startswith("forgetbench."):
        raise PluginError(f"BUILT_IN_OPTIONS[{name!r}] is {listed}, but {cls.__qualname__}.Options is {options.__qualname__}")


backends: Registry[type[BackendBase]] = Registry("backend", GROUP, BackendBase, _check)
backends.lazy("hf", "forgetbench.backends.hf.backend:HFBackend")
backends.lazy("vllm", "forgetbench.backends.vllm.backend:VLLMBackend")
BUILT_IN_OPTIONS = {"hf": "forgetbench.backends.hf.backend:HFOptions", "vllm": "forgetbench.backends.vllm.options:VLLMOptions"}
"""Where the built-ins' options live, so the CLI builds their flags without importing the vllm backend's
module (checked against the class's own `Options` when it registers)."""


def backend_names() -> tuple[str, ...]:
    """Registered backend names: the built-ins, then installed plugins (none imported)."""
    return backends.names()


def backend_class(name: str) -> type[BackendBase]:
    """The class of backend `name` (its module imported now). UserInputError when unknown, PluginError when
    its plugin cannot be used."""
    return backends.get(name)


def options_class(name: str) -> type[BackendOptions]:
    """The options dataclass of backend `name`: a built-in's from where it lives (its backend's module not
    imported), a plugin's from its class (the plugin loaded now)."""
    listed = BUILT_IN_OPTIONS.get(name)
    if listed is None or name in backends.broken():
        return backend_class(name).Options
    module, _, attr = listed.partition(":")
    return getattr(importlib.import_module(module), attr)


def options_of(runtime: Runtime) -> BackendOptions:
    """The runtime's backend options, as its backend's `Options` (defaults when none were given)."""
    return backend_class(runtime.backend).options_of(runtime)


def open_backend(runtime: Runtime) -> Backend:
    """A backend for `runtime` (its constructor checks, before any compute, that it can run: installed,
    device present, options valid). Use it as a context manager so models and engines are released."""
    return backend_class(runtime.backend)(runtime)  # type: ignore[call-arg, return-value]


VLLM_SETTINGS_V1 = {"tensor_parallel_size": 1, "gpu_memory_utilization": None, "max_model_len": None,
                    "enforce_eager": None, "full_scorer": "hf", "max_lora_rank": None}  # fmt: skip
"""The `vllm` entry every settings record had before backends owned their options (the vLLM options'
defaults then, under any backend): kept, frozen, so that digests made since are unchanged."""


def settings_record(runtime: Runtime) -> dict[str, Any]:
    """The runtime as a settings digest hashes it (a sweep's `settings`): backend, device, dtype, batch
    size, remote-code consent and the backend's options under their `settings_key`, in the layout of
    before backends were plugins (the options of vLLM under `vllm`, `VLLM_SETTINGS_V1` there under any
    other backend), so a digest made then is the same now. A backend with no options adds nothing."""
    options = options_of(runtime)
    record: dict[str, Any] = {
        "backend": runtime.backend,
        "device": runtime.device,
        "dtype": runtime.dtype,
        "batch_size": runtime.batch_size,
        "trust_remote_code": runtime.trust_remote_code,
        "vllm": dict(VLLM_SETTINGS_V1),
    }
    if dataclasses.fields(options):
        record[options.settings_key] = dataclasses.asdict(options)
    return record
