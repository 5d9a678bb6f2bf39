"""The `toy` backend: hf's models under another name, with one option, `--toy-tag`, which it records
(as JSON, in the file named by $TOY_RECORD) when it is opened, so a test sees that it ran with it. It
implements `score` itself, as a third-party backend would, with the protocol's signature, and records the
divergences each call asked for (`score`: one list of names per call)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from forgetbench.backends.base import BackendOptions
from forgetbench.backends.hf.backend import HFBackend
from forgetbench.backends.registry import backends

if TYPE_CHECKING:
    from forgetbench.backends.base import ModelRef, TokenScores
    from forgetbench.core.config import Runtime
    from forgetbench.core.progress import Reporter


@dataclass(frozen=True)
class ToyOptions(BackendOptions):
    """The toy backend's own options."""

    panel: ClassVar[str] = "Toy backend"

    toy_tag: str = field(default="untagged", metadata={"help": "Toy: a tag the toy backend records when it opens."})


@backends.register("toy")
class ToyBackend(HFBackend):
    """hf under the name `toy`."""

    name: ClassVar[str] = "toy"
    Options = ToyOptions

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(runtime)
        options = self.options_of(runtime)
        assert isinstance(options, ToyOptions)
        record = os.environ.get("TOY_RECORD")
        if record:
            Path(record).write_text(json.dumps({"toy_tag": options.toy_tag, "backend": self.name, "score": []}))

    def score(
        self,
        p: ModelRef,
        q: ModelRef,
        sequences: list[tuple[list[int], list[int]]],
        pad_id: int,
        divergences: tuple[str, ...],
        batch_size: int,
        reporter: Reporter,
    ) -> list[TokenScores]:
        record = os.environ.get("TOY_RECORD")
        if record:
            seen = json.loads(Path(record).read_text())
            Path(record).write_text(json.dumps({**seen, "score": [*seen["score"], list(divergences)]}))
        return super().score(p, q, sequences, pad_id, divergences, batch_size, reporter)
