"""Every field of every result type is documented (an attribute docstring right after it)."""

from __future__ import annotations

import ast
from pathlib import Path

import forgetbench.schema as schema


def undocumented() -> list[str]:
    tree = ast.parse(Path(schema.__file__).read_text())
    missing = []
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        body = cls.body
        for i, node in enumerate(body):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                nxt = body[i + 1] if i + 1 < len(body) else None
                documented = isinstance(nxt, ast.Expr) and isinstance(getattr(nxt, "value", None), ast.Constant) and isinstance(nxt.value.value, str)
                if not documented:
                    missing.append(f"{cls.name}.{node.target.id}")
    return missing


def test_every_result_field_has_a_docstring():
    assert undocumented() == []
