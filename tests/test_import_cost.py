"""Conventions that keep every command's start-up short: a command pays for each module it
imports, and some ways of writing a module cost more to import than others."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from xdptool.verifier.native import MODULES as CYTHON_MODULES

PACKAGE = Path(__file__).resolve().parent.parent / "xdptool"
COMPILED = {PACKAGE / "verifier" / f"{name}.py" for name in CYTHON_MODULES}  # Cython reads these annotations itself


def postponed_namedtuples(source: str) -> list[str]:
    """The NamedTuple classes of a module that postpones its annotations (PEP 563).

    typing.NamedTuple turns each postponed field annotation, a string, into a ForwardRef,
    which compiles it when the class is made: ~20 us a field at every start (a replay's
    path holds ~140 such fields).  A module that defines NamedTuples therefore evaluates
    its annotations instead (names only a type checker sees are quoted)."""
    tree = ast.parse(source)
    postpones = any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
                    and any(alias.name == "annotations" for alias in node.names) for node in tree.body)
    if not postpones:
        return []
    return [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
            and any(getattr(base, "id", getattr(base, "attr", None)) == "NamedTuple" for base in node.bases)]


@pytest.mark.parametrize("source, expected", [
    ("from __future__ import annotations\nfrom typing import NamedTuple\nclass A(NamedTuple):\n    x: int\n", ["A"]),
    ("from __future__ import annotations\nimport typing\nclass B(typing.NamedTuple):\n    x: int\n", ["B"]),
    ("from typing import NamedTuple\nclass A(NamedTuple):\n    x: int\n", []),
    ("from __future__ import annotations\nclass C:\n    x: int\n", []),
])
def test_the_reader_finds_postponed_namedtuples(source, expected):
    assert postponed_namedtuples(source) == expected


def test_modules_with_namedtuples_do_not_postpone_annotations():
    bad = {str(path.relative_to(PACKAGE.parent)): names for path in sorted(PACKAGE.rglob("*.py"))
           if path not in COMPILED and (names := postponed_namedtuples(path.read_text()))}
    assert bad == {}
