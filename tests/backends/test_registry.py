"""The plugin registry (`core.registry`) and the backends registered in it: decorator registration, the
base-class check, one owner per name, entry-point discovery, lazy built-ins; each backend's options;
and the settings digests, pinned to the values the code gave before backends owned their options."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import pytest

from forgetbench.backends.base import BackendOptions
from forgetbench.backends.registry import BUILT_IN_OPTIONS, backend_class, options_class, options_of, settings_record
from forgetbench.backends.vllm.options import VLLMOptions
from forgetbench.cli.backend_flags import BackendFlags, _flags_of
from forgetbench.core.config import Runtime, ScoreConfig
from forgetbench.core.errors import UserInputError
from forgetbench.core.registry import PluginError, Registry
from tests.backends.test_plugins import install


class Base:
    pass


class One(Base):
    pass


class Two(Base):
    pass


def test_decorator_registration_checks_the_base_class_and_refuses_a_second_owner():
    reg: Registry[type[Base]] = Registry("widget", "forgetbench.test-widgets", Base)
    reg.register("one")(One)
    assert reg.get("one") is One
    reg.register("one")(One)  # the same object again: no collision
    with pytest.raises(PluginError, match=r"widget 'one' of .*Two collides with the widget 'one' of .*One"):
        reg.register("one")(Two)
    with pytest.raises(PluginError, match="is not a subclass of Base"):
        reg.register("int")(int)  # type: ignore[arg-type]
    with pytest.raises(UserInputError, match="unknown widget 'three'; available: one"):
        reg.get("three")


def test_a_lazy_entry_is_imported_only_when_named_and_becomes_its_object():
    reg: Registry[type[Base]] = Registry("widget", "forgetbench.test-widgets", Base)
    reg.lazy("one", f"{__name__}:One")
    reg.register("one")(One)  # what the decorator does when the module is imported: the same target
    assert reg.get("one") is One
    reg.lazy("two", "no_such_module_anywhere:Two")
    assert reg.names() == ("one", "two")
    with pytest.raises(PluginError, match=r"widget 'two' of forgetbench .built in. cannot be loaded: ModuleNotFoundError"):
        reg.get("two")
    assert set(reg.load_all()[1]) == {"two"}


def test_entry_points_are_discovered_loaded_on_demand_and_may_not_take_a_name(tmp_path, monkeypatch):
    module = f"from {__name__} import Base\nclass W1(Base): pass\nclass NotAWidget: pass\n"
    entries = {"w1": "widget_mod:W1", "one": "widget_mod:W1", "w2": "widget_mod:NotAWidget"}
    site = install(tmp_path, "widgets", entries, {"widget_mod": module}, group="forgetbench.test-widgets")
    monkeypatch.syspath_prepend(str(site))
    reg: Registry[type[Base]] = Registry("widget", "forgetbench.test-widgets", Base)
    reg.lazy("one", f"{__name__}:One")
    assert reg.names() == ("one", "w1", "w2") and "widget_mod" not in sys.modules
    assert reg.get("w1").__name__ == "W1"
    with pytest.raises(
        PluginError, match=r"widget 'w2' of distribution widgets 0\.1 \(entry point w2 = widget_mod:NotAWidget\) cannot"
    ):
        reg.get("w2")
    with pytest.raises(
        PluginError, match=r"widget 'one' of distribution widgets 0\.1 .* collides with the widget 'one' of forgetbench"
    ):
        reg.get("one")  # the built-in's name is refused to the plugin: neither is used silently


def test_each_backend_owns_its_options():
    assert options_of(Runtime()) == backend_class("hf").Options()
    assert options_of(Runtime(backend="vllm", options={"tensor_parallel_size": 2})) == VLLMOptions(tensor_parallel_size=2)
    assert options_of(Runtime(backend="vllm", options={"tensor_parallel_size": 2})).gpus_per_job() == 2
    with pytest.raises(UserInputError, match="backend hf takes HFOptions options, not VLLMOptions"):
        options_of(Runtime(backend="hf", options=VLLMOptions(full_scorer="vllm")))  # was Runtime's cross-check
    with pytest.raises(UserInputError, match="backend vllm has no option 'tensor_parallel'"):
        options_of(Runtime(backend="vllm", options={"tensor_parallel": 2}))
    with pytest.raises(UserInputError, match="unknown backend 'nope'; available: hf, vllm"):
        options_of(Runtime(backend="nope"))
    for name, target in BUILT_IN_OPTIONS.items():  # the table the CLI reads is the classes' own
        assert options_class(name) is backend_class(name).Options, target


def test_a_ray_job_asks_for_the_gpus_its_backend_options_name():
    from forgetbench.pipeline.executor import resources

    vllm = Runtime(backend="vllm", device="cuda", options=VLLMOptions(tensor_parallel_size=4))
    assert resources(vllm, 8)["num_gpus"] == 4 and resources(Runtime(device="cuda"), 8)["num_gpus"] == 1


def test_naming_hf_imports_no_vllm_side_and_help_no_backend_module():
    code = (
        "import sys, forgetbench.cli\n"
        "assert not [m for m in sys.modules if m.startswith(('vllm', 'torch', 'forgetbench.backends.vllm.backend'))]\n"
        "from forgetbench.backends.registry import backend_class\n"
        "backend_class('hf')\n"
        "assert not [m for m in sys.modules if m.startswith(('vllm', 'forgetbench.backends.vllm.backend'))]\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@dataclass(frozen=True)
class Odd(BackendOptions):
    panel: ClassVar[str] = "Odd"

    mode: Literal["a", "b"] = field(default="a", metadata={"help": "Odd: a mode.", "kl": True})
    level: int | None = None
    fast: bool = False
    seed: int = 0


def test_option_fields_become_typed_flags_and_a_clash_disables_the_backend():
    flags = _flags_of("odd", Odd)
    assert [f.flags for f in flags] == [("--mode",), ("--level",), ("--fast", "--no-fast"), ("--seed",)]
    assert [f.kl for f in flags] == [True, False, False, False] and flags[0].default == "a"
    table = BackendFlags(("hf", "odd"), flags, {})
    left_out = table.refuse_clashes({"seed": {"--seed"}, **{f.param: set(f.flags) for f in flags}})
    assert left_out == {f.param for f in flags} and "--seed is already a flag of forgetbench" in str(table.broken["odd"])

    @dataclass(frozen=True)
    class Bad(BackendOptions):
        where: list[str] = field(default_factory=list)

    with pytest.raises(PluginError, match=r"option where has type list.str., which is no flag type"):
        _flags_of("bad", Bad)


SETTINGS = dict(suite="offline-lite", n_prompts=32, max_new_tokens=64, noise_floor_prompts=8, seed=0)
ENGINE = VLLMOptions(tensor_parallel_size=2, gpu_memory_utilization=0.5, max_model_len=4096, enforce_eager=True,
                     full_scorer="vllm", max_lora_rank=16)  # fmt: skip


@pytest.mark.parametrize(
    "options,expected",
    # Backends owning their options left these digests as they were; schema 7's predictor settings (old-task
    # prompts, weight distance) changed them on purpose: a sweep folder measured without the predictors is
    # refused ("another set of settings") rather than mixed with runs that have them.
    [
        (SETTINGS, "21ce021a62d09bd31cf6398479ca852441f5ec81e24b37588e8e8c56cf225e38"),
        (
            {**SETTINGS, "runtime": Runtime(backend="vllm", options=ENGINE)},
            "bd46c4efce7acc4654a837510d031903a9151c474b6379302e2efeef08297eed",
        ),
        ({"backend": "vllm"}, "88ff00cea894478db8ea159546a88662c2e1926ccd87617a474ef50d57dc6d6b"),
    ],
    ids=["hf", "vllm-options", "vllm-defaults"],
)
def test_sweep_settings_digests_are_unchanged(options, expected):
    from forgetbench.pipeline.sweep import _settings_digest

    assert _settings_digest(ScoreConfig.build("base-x", "ckpt-y", "task:fb_asdiv_lite", **options)) == expected


def test_a_settings_record_keeps_the_layout_digests_were_made_in():
    assert "options" not in settings_record(Runtime()) and settings_record(Runtime())["vllm"]["full_scorer"] == "hf"
    assert settings_record(Runtime(backend="vllm", options=ENGINE))["vllm"]["max_lora_rank"] == 16
