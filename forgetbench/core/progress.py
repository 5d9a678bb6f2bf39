"""How library code reports progress without knowing about terminals.

Library functions take a `Reporter`; the CLI passes one that draws rich progress bars on stderr,
Python callers get `Reporter()` (silent) by default.
"""

from __future__ import annotations

from collections.abc import Callable


class Reporter:
    """Silent reporter; subclasses draw. `step(desc, total)` returns an `advance(n)` callable."""

    def message(self, text: str) -> None:
        """A one-line status message."""

    def step(self, description: str, total: int) -> Callable[[int], None]:
        """Start a bar of `total` units; call the returned function with units done."""
        return lambda n: None

    def close(self) -> None:
        """Finish any bar still drawn."""
