"""Content-addressed results store with atomic entries and file locks.

Layout: `<root>/<namespace>/<key[:2]>/<key>/` holds one entry (a folder of files); locks live in
`<root>/.locks/`. An entry is built in a temporary sibling folder and renamed into place under the
key's lock (`core.fs.build_once`), so a reader sees either nothing or a complete entry: a killed run
never leaves a half-written entry that a later run trusts, and the first complete entry wins.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from forgetbench.core.errors import StoreError
from forgetbench.core.fs import build_once, os_reason, probe_folder


class Store:
    """A results store rooted at a folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def check_writable(self, namespaces: tuple[str, ...] = ()) -> None:
        """Create the root if needed and prove it (and the folders entries and locks go to) is a
        writable folder; StoreError (one line) otherwise. Called before any compute."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store {self.root} exists and is not a directory")
        for sub in (self.root, self.root / ".locks", *(self.root / ns for ns in namespaces)):
            if sub.exists() and not sub.is_dir():
                raise StoreError(f"store {self.root}: {sub.name} is a file where the store keeps a folder; move it away")
        try:
            probe_folder(self.root)
        except OSError as exc:
            raise StoreError(f"store {self.root} is not writable ({os_reason(exc)})") from None

    def entry_path(self, namespace: str, key: str) -> Path:
        """Folder of the entry `key` in `namespace` (may not exist)."""
        return self.root / namespace / key[:2] / key

    def get(self, namespace: str, key: str) -> Path | None:
        """The entry's folder when a complete entry exists, else None."""
        path = self.entry_path(namespace, key)
        return path if path.is_dir() else None

    def put(self, namespace: str, key: str, write: Callable[[Path], None]) -> Path:
        """Create the entry by calling `write(tmp_folder)` unless it exists; return its folder."""
        try:
            return build_once(self.entry_path(namespace, key), self.root / ".locks" / f"{namespace}-{key}.lock", write)
        except (NotADirectoryError, FileExistsError, PermissionError) as exc:
            raise StoreError(f"store {self.root}: cannot write entry {namespace}/{key[:12]} ({exc})") from None
