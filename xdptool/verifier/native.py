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

import importlib.machinery
import importlib.util
import json
import os
import sys

# (no pathlib, no hashlib at import: this module runs at every start, and those two with
# what they import cost more than the rest of the verifier package's import)
PACKAGE = __name__.rpartition(".")[0]
HERE = os.path.dirname(os.path.realpath(__file__))
# The modules setup.py compiles, in no particular order.
MODULES = ("tnum", "scalar", "state", "branches", "pruning", "precision", "cfg", "fastpath", "backtrack", "log", "checker",
           "handler", "linked")
MANIFEST = "native.json"
STAMPS = "stamps"  # the manifest's key for the sources' sizes and mtimes at the build (not a module)
PURE_ENV = "XDPTOOL_PURE_PYTHON"
_SOURCE_SUFFIXES = (".py", ".pxd")


def source_digest(module: str, directory: str | os.PathLike | None = None) -> str:
    """A hash of what the compiled module was built from: its .py and its .pxd, if any."""
    import hashlib

    directory = HERE if directory is None else directory
    digest = hashlib.sha256()
    for suffix in _SOURCE_SUFFIXES:
        path = os.path.join(directory, f"{module}{suffix}")
        if os.path.exists(path):
            with open(path, "rb") as source:
                digest.update(suffix.encode() + b"\0" + source.read())
    return digest.hexdigest()


def source_stamp(module: str, directory: str | os.PathLike | None = None) -> list:
    """[size, mtime_ns] of the module's .py and .pxd (None for an absent one): when they are
    those recorded at the build, the sources are the ones hashed then and need no hashing now."""
    directory = HERE if directory is None else directory
    stamp = []
    for suffix in _SOURCE_SUFFIXES:
        try:
            st = os.stat(os.path.join(directory, f"{module}{suffix}"))
        except OSError:
            stamp.append(None)
        else:
            stamp.append([st.st_size, st.st_mtime_ns])
    return stamp


def build_manifest(directory: str | os.PathLike | None = None, modules: tuple[str, ...] | None = None) -> dict:
    """What setup.py records beside a build: each module's digest, and the sources' stamps."""
    modules = MODULES if modules is None else modules
    manifest: dict = {m: source_digest(m, directory) for m in modules}
    manifest[STAMPS] = {m: source_stamp(m, directory) for m in modules}
    return manifest


def _compiled_path(module: str) -> str | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(HERE, f"{module}{suffix}")
        if os.path.exists(path):
            return path
    return None


def _is_current(module: str, recorded: dict) -> bool:
    """The module's sources are those it was compiled from: same stamps (no hashing), else same digest."""
    stamps = recorded.get(STAMPS)
    if isinstance(stamps, dict) and stamps.get(module) == source_stamp(module):
        return True
    return recorded.get(module) == source_digest(module)


def check() -> str | None:
    """None when every module is compiled and current, else why the sources are used."""
    if os.environ.get(PURE_ENV):
        return f"{PURE_ENV} is set"
    missing = [m for m in MODULES if _compiled_path(m) is None]
    if missing:
        return "not compiled (Cython was unavailable when the package was installed)" if len(missing) == len(MODULES) \
            else f"compiled modules missing: {', '.join(missing)}"
    try:
        with open(os.path.join(HERE, MANIFEST), encoding="utf-8") as manifest:
            recorded = json.load(manifest)
    except (OSError, ValueError):
        return f"no valid {MANIFEST} beside the compiled modules"
    if not isinstance(recorded, dict):
        return f"no valid {MANIFEST} beside the compiled modules"
    stale = [m for m in MODULES if not _is_current(m, recorded)]
    if stale:
        return f"sources changed since the build: {', '.join(f'{m}.py' for m in stale)} (run `make native`)"
    return None


class _SourceFinder:
    """Loads the listed verifier modules from their .py files, ahead of any compiled form (a meta
    path finder needs only find_spec: importlib.abc's base class would import importlib.resources,
    tempfile, shutil... ~5 ms at every start)."""

    def __init__(self, names: dict[str, str]):
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
        sys.meta_path.insert(0, _SourceFinder({f"{PACKAGE}.{m}": os.path.join(HERE, f"{m}.py") for m in MODULES}))


def describe() -> str:
    """One line for logs and benchmarks: how the verifier runs in this process."""
    return "compiled (Cython)" if WHY_PURE is None else f"interpreted ({WHY_PURE})"
