"""Which verifier modules run compiled, and the guard that keeps them honest.

The verifier's hot modules are plain Python; `setup.py` compiles them with
Cython (class layouts from the `.pxd` files beside them) when it can, and
records a hash of every source it compiled in `native.json`.  Before any of
those modules is imported, `select()` checks that record: when the compiled
modules are missing, out of date with their sources, or XDPTOOL_PURE_PYTHON is
set, every one of them is loaded from its `.py` instead, so an edit is never
shadowed by a stale build and compiled and interpreted code are never mixed
(the compiled modules share class layouts).  Both forms give the same results
(tests/test_verifier_native.py); the compiled one is about twice as fast (1.8-3.3
times on l4_lb, payload_scan, port_blocklist and a 10,000-iteration loop; README:
compiling only tnum and scalar gains nothing).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path

PACKAGE = __name__.rpartition(".")[0]
HERE = Path(__file__).resolve().parent
# The modules setup.py compiles, in no particular order.
MODULES = ("tnum", "scalar", "state", "branches", "pruning", "precision", "cfg", "fastpath", "backtrack", "log", "checker",
           "handler")
MANIFEST = "native.json"
PURE_ENV = "XDPTOOL_PURE_PYTHON"


def source_digest(module: str, directory: Path | None = None) -> str:
    """A hash of what the compiled module was built from: its .py and its .pxd, if any."""
    directory = HERE if directory is None else directory
    digest = hashlib.sha256()
    for suffix in (".py", ".pxd"):
        path = directory / f"{module}{suffix}"
        if path.exists():
            digest.update(suffix.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _compiled_path(module: str) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = HERE / f"{module}{suffix}"
        if path.exists():
            return path
    return None


def check() -> str | None:
    """None when every module is compiled and current, else why the sources are used."""
    if os.environ.get(PURE_ENV):
        return f"{PURE_ENV} is set"
    missing = [m for m in MODULES if _compiled_path(m) is None]
    if missing:
        return "not compiled (Cython was unavailable when the package was installed)" if len(missing) == len(MODULES) \
            else f"compiled modules missing: {', '.join(missing)}"
    try:
        recorded = json.loads((HERE / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"no valid {MANIFEST} beside the compiled modules"
    stale = [m for m in MODULES if recorded.get(m) != source_digest(m)]
    if stale:
        return f"sources changed since the build: {', '.join(f'{m}.py' for m in stale)} (run `make native`)"
    return None


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Loads the listed verifier modules from their .py files, ahead of any compiled form."""

    def __init__(self, names: dict[str, Path]):
        self.names = names

    def find_spec(self, fullname, path=None, target=None):
        source = self.names.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


WHY_PURE: str | None = None  # set by select(): None when the compiled modules run


def select() -> None:
    """Route imports of the compiled modules to their sources unless the build is current."""
    global WHY_PURE
    WHY_PURE = check()
    if WHY_PURE is not None:
        sys.meta_path.insert(0, _SourceFinder({f"{PACKAGE}.{m}": HERE / f"{m}.py" for m in MODULES}))


def describe() -> str:
    """One line for logs and benchmarks: how the verifier runs in this process."""
    return "compiled (Cython)" if WHY_PURE is None else f"interpreted ({WHY_PURE})"
