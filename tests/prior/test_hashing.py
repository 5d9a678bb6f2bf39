"""`prior.hashing.with_defaults`: a task config as lm-eval logs it (lm-eval's own `TaskConfig.to_dict` written by
its own JSON writer), against the same task as earlier lm-eval versions logged it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

from lm_eval.config.task import TaskConfig
from lm_eval.utils import handle_non_serializable

from forgetbench.prior.hashing import content_hash, with_defaults

HELPERS = """
def process_docs(dataset):
    return dataset
"""


def logged(**fields) -> dict:
    """The config as lm-eval 0.4.13 writes it into a results file."""
    config = TaskConfig(task="t", dataset_path="x", output_type="multiple_choice", doc_to_text="Q: {{q}}", **fields)
    return json.loads(json.dumps(config.to_dict(), default=handle_non_serializable))


def _process_docs(folder: Path, name: str):
    """`process_docs` of a task's helper module, imported as a new module (a new function object at another
    address, as in another lm-eval run)."""
    path = folder / "helpers.py"
    path.write_text(HELPERS)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.process_docs


def test_a_config_the_installed_lm_eval_logged_is_unchanged():
    config = logged(metadata={"version": 1.0})
    assert with_defaults(config) == config
    assert content_hash(with_defaults(config), ["a"]) == content_hash(config, ["a"])


def test_keys_a_later_lm_eval_writes_with_their_defaults_are_no_difference():
    new = logged()
    defaults = {f.name for f in dataclasses.fields(TaskConfig) if f.default not in (None, dataclasses.MISSING)}
    assert "unsafe_code" in defaults and new["unsafe_code"] is False
    old = {k: v for k, v in new.items() if k not in ("unsafe_code", "fewshot_config")}  # lm-eval ≤ 0.4.7
    assert with_defaults(old) == new
    assert with_defaults({**old, "doc_to_image": None}) == new  # a null is what to_dict leaves out
    changed = {**old, "unsafe_code": True}  # not the default: a difference
    assert with_defaults(changed)["unsafe_code"] is True and with_defaults(changed) != new
    other = {**old, "target_delimiter": "\n"}  # a field both have, changed: a difference, in both places it acts
    assert with_defaults(other)["fewshot_config"]["target_delimiter"] == "\n"


def test_a_fewshot_config_set_in_the_yaml_is_completed_as_lm_eval_completes_it():
    new = logged(fewshot_config={"sampler": "first_n"}, fewshot_split="train")
    old = {k: v for k, v in new.items() if k != "fewshot_config"} | {"fewshot_config": {"sampler": "first_n"}}
    assert with_defaults(old) == new
    assert with_defaults({**old, "fewshot_config": {"sampler": "default"}}) != new


def test_a_callable_logged_with_its_address_reads_the_same_in_every_run(tmp_path):
    """lm-eval writes a task's `process_docs` as its source, and the copy in `fewshot_config` as
    `<function process_docs at 0x…>`: two runs (two imports) and a log without `fewshot_config` agree."""
    a, b = (logged(process_docs=_process_docs(tmp_path, name)) for name in ("run_a", "run_b"))
    assert a["fewshot_config"]["process_docs"] != b["fewshot_config"]["process_docs"]  # the addresses
    assert a["process_docs"].startswith("def process_docs(")
    assert with_defaults(a) == with_defaults(b)
    assert with_defaults(a)["fewshot_config"]["process_docs"] == a["process_docs"]
    old = {k: v for k, v in a.items() if k != "fewshot_config"}
    assert with_defaults(old) == with_defaults(a)


def test_a_field_this_lm_eval_does_not_know_is_kept():
    old = {**logged(), "group": "mmlu", "fewshot_config": {"sampler": "first_n", "retired_key": 1}}
    assert with_defaults(old)["group"] == "mmlu"
    assert with_defaults(old)["fewshot_config"] == {"sampler": "first_n", "retired_key": 1}


def test_a_task_hash_is_the_same_in_another_process_when_fewshot_config_holds_a_function(tmp_path):
    """lm-eval copies `process_docs` into `fewshot_config` as a function object: the task hash (score's store key)
    takes its source, as for a top-level function, not its address (a new import: another address)."""
    from types import SimpleNamespace

    from forgetbench.prior.hashing import task_hash

    def task(name: str):
        config = TaskConfig(task="t", dataset_path="x", output_type="multiple_choice", doc_to_text="Q: {{q}}",
                            process_docs=_process_docs(tmp_path, name))  # fmt: skip
        return SimpleNamespace(config=config, eval_docs=[{"q": "a"}, {"q": "b"}])

    first, second = task("run_a"), task("run_b")
    assert first.config.process_docs is not second.config.process_docs
    assert callable(first.config.to_dict()["fewshot_config"]["process_docs"])  # what made the hash unstable
    assert task_hash(first, None) == task_hash(second, None)
    assert task_hash(first, 1) != task_hash(first, None)
