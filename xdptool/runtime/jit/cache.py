"""The persistent compile cache: native code kept on disk between runs.

An entry is the object code LLVM emitted for one module plus what the engine
needs beside it (compiler.CompiledProgram's tables), stored under a key that
hashes everything the code depends on: the instructions and relocations of
every unit, the map shapes, the tail-call targets, whether budget checks are
on, the xdptool, llvmlite and LLVM versions, the target triple, and the source
of the code generator itself (so an edited jit never runs stale code).

Where: `$XDPTOOL_CACHE_DIR`, else `$XDG_CACHE_HOME/xdptool`, else
`~/.cache/xdptool`, in a `jit/` folder; `XDPTOOL_NO_CACHE=1` turns it off.
Entries are written under a temporary name and renamed (files.atomic_write),
so a parallel run sees a whole entry or none; an entry that does not verify
(bad magic, digest, or JSON) is ignored and rebuilt.  A cache that cannot be
written (read-only home, full disk) only costs the compile.

File layout: MAGIC, then the SHA-256 of the rest (32 bytes), then the length of
the JSON metadata (8 bytes, little-endian), the metadata, the object code.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

MAGIC = b"XDPJIT\x00\x01"
ENV_DIR, ENV_OFF = "XDPTOOL_CACHE_DIR", "XDPTOOL_NO_CACHE"
# Sources the generated code depends on besides the program (relative to xdptool/).
GENERATOR_SOURCES = ("runtime/jit/*.py", "runtime/config.py", "runtime/memory.py", "runtime/maps_hash.py",
                     "runtime/maps_array.py", "runtime/maps_base.py", "runtime/xdp.py", "runtime/helpers.py",
                     "platform/*.py")


def cache_dir() -> Path | None:
    """The folder entries live in, or None when caching is off."""
    if os.environ.get(ENV_OFF, "") not in ("", "0"):
        return None
    from ...files import cache_root

    return cache_root() / "jit"


@lru_cache(maxsize=1)
def environment_digest() -> str:
    """What every key shares: versions, target, and the code generator's source."""
    import llvmlite
    import llvmlite.binding as llvm

    from ... import __version__

    digest = hashlib.sha256()
    digest.update(repr((__version__, llvmlite.__version__, llvm.llvm_version_info,
                        llvm.get_process_triple())).encode())
    package = Path(__file__).resolve().parents[2]
    for pattern in GENERATOR_SOURCES:
        for path in sorted(package.glob(pattern)):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _insn_fields(insn) -> tuple:
    reloc = insn.reloc
    where = None if reloc is None else (reloc.kind.value, reloc.symbol, reloc.map, reloc.offset)
    return (insn.pc, insn.code, insn.dst, insn.src, insn.off, insn.imm, insn.imm_hi, where)


def key_for(units, shapes, tail_targets, checked: bool, name: str) -> str:
    """The entry name for one module (hex SHA-256)."""
    digest = hashlib.sha256(environment_digest().encode())
    for unit in units:
        digest.update(repr((unit.index, unit.name, unit.broken)).encode())
        digest.update(repr([_insn_fields(insn) for insn in unit.insns]).encode())
    digest.update(repr((shapes, sorted((tail_targets or {}).items()), checked, name)).encode())
    return digest.hexdigest()


def load(key: str) -> tuple[bytes, dict[str, Any]] | None:
    """(object code, metadata) of a verified entry, else None."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        raw = (folder / key[:2] / key).read_bytes()
    except OSError:
        return None
    head = len(MAGIC)
    if raw[:head] != MAGIC or hashlib.sha256(raw[head + 32:]).digest() != raw[head:head + 32]:
        return None
    body = raw[head + 32:]
    size = int.from_bytes(body[:8], "little")
    try:
        meta = json.loads(body[8:8 + size])
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    return body[8 + size:], meta


def store(key: str, code: bytes, meta: dict[str, Any]) -> None:
    """Write an entry atomically; failures leave the cache as it was."""
    from ...errors import XdpError
    from ...files import atomic_write

    folder = cache_dir()
    if folder is None:
        return
    text = json.dumps(meta, separators=(",", ":")).encode()
    body = len(text).to_bytes(8, "little") + text + code
    try:
        (folder / key[:2]).mkdir(parents=True, exist_ok=True)
        atomic_write(folder / key[:2] / key, MAGIC + hashlib.sha256(body).digest() + body)
    except (OSError, XdpError):
        pass
