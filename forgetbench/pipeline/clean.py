"""`forgetbench clean`: what interrupted work and older versions leave in `$FORGETBENCH_HOME`.

- temporaries of builds that were killed (a GGUF conversion, the demo fine-tune, a store entry): their
  builder's lock is free, so nobody will finish them (a build still running holds its lock: kept);
- store namespaces of earlier versions (`prior-v2`, `kl-samples-v1`: keyed by version-1 fingerprints,
  never read again).

A builder also removes its own abandoned temporaries the next time it runs (`core.fs.build_once`).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from forgetbench.core.fs import clean_abandoned
from forgetbench.core.home import models_dir
from forgetbench.core.store import Store
from forgetbench.kl.samples import NAMESPACE as SAMPLES
from forgetbench.prior.run import NAMESPACE as PRIOR

CURRENT = (PRIOR, SAMPLES)
VERSIONED = re.compile(r"^(prior|kl-samples)-v\d+$")


@dataclass(frozen=True)
class Cleaned:
    """What `clean` removed."""

    temporaries: tuple[Path, ...]
    stale_namespaces: tuple[Path, ...]
    freed_bytes: int


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def clean(store: Store, stale: bool = True) -> Cleaned:
    """Remove abandoned temporaries under the models folder and `store`, and (with `stale`) the store's
    namespaces of earlier versions."""
    models = models_dir()
    tmp_models, freed_models = clean_abandoned(models, lambda tmp, name: models / ".locks" / f"{name}.lock")
    tmp_store, freed_store = clean_abandoned(
        store.root, lambda tmp, name: store.root / ".locks" / f"{tmp.parent.parent.name}-{name}.lock"
    )
    old: list[Path] = []
    freed = freed_models + freed_store
    if stale and store.root.is_dir():
        for ns in sorted(store.root.iterdir()):
            if ns.is_dir() and VERSIONED.match(ns.name) and ns.name not in CURRENT:
                freed += _size(ns)
                shutil.rmtree(ns)
                old.append(ns)
    return Cleaned(tuple(tmp_models + tmp_store), tuple(old), freed)
