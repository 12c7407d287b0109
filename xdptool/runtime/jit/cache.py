"""The persistent compile cache: native code kept on disk between runs.

An entry is the code LLVM emitted for one module — as a shared object made by
the system linker, and as the object code itself — plus what the engine needs
beside it (compiler.CompiledProgram's tables), stored under a key that hashes
everything the code depends on: the instructions and relocations of every
unit, the map shapes, the tail-call targets, whether budget checks are on, the
xdptool, llvmlite and LLVM versions, the target triple, and the source of the
code generator itself (so an edited jit never runs stale code).

`native(key, build)` is the whole path: a verified entry's shared object is
loaded with dlopen (backend.load_shared), so a warm start does not import
llvmlite's LLVM binding at all; else its object code goes to MCJIT; else
`build()` compiles, and the result is linked, stored and loaded.  The LLVM
facts of the key are kept on disk too (`llvm-*.json`, keyed by the identity of
llvmlite's library file), so computing a key needs no LLVM either.

Where: `$XDPTOOL_CACHE_DIR`, else `$XDG_CACHE_HOME/xdptool`, else
`~/.cache/xdptool`, in a `jit/` folder; `XDPTOOL_NO_CACHE=1` turns it off.
Entries are written under a temporary name and renamed (files.atomic_write),
so a parallel run sees a whole entry or none; an entry that does not verify
(bad magic, digest, or JSON) is ignored and rebuilt.  A cache that cannot be
written (read-only home, full disk) only costs the compile.

File layout: MAGIC, then the SHA-256 of the rest (32 bytes), then the lengths of
the JSON metadata and of the shared object (8 bytes each, little-endian), the
metadata, the shared object (empty when no linker was found), the object code.
"""


import json
import os
import stat
import sys
from functools import lru_cache
from typing import Any, Callable, NamedTuple

try:  # SHA-256 without hashlib, whose import loads OpenSSL's libcrypto (~2.5 ms of every start):
    from _sha2 import sha256  # pyright: ignore[reportMissingImports] - the interpreter's own (3.12+; same digests)
except ImportError:
    try:
        from _sha256 import sha256  # pyright: ignore[reportMissingImports] - (Python 3.11)
    except ImportError:  # an interpreter built without it
        from hashlib import sha256

MAGIC = b"XDPJIT\x00\x02"
ENV_DIR, ENV_OFF = "XDPTOOL_CACHE_DIR", "XDPTOOL_NO_CACHE"
LOADING = ".loading"  # subfolder of private copies of shared objects while dlopen maps them
# Sources the generated code depends on besides the program (relative to xdptool/).
GENERATOR_SOURCES = ("runtime/jit/*.py", "runtime/config.py", "runtime/memory.py", "runtime/maps*.py",
                     "runtime/xdp.py", "runtime/helpers.py", "runtime/kfuncs.py",
                     "platform/*.py", "ebpf/opcodes.py", "ebpf/semantics.py",
                     "verifier/*.py")  # the verifier: its proofs leave checks out (proofs.py)
LLVMLITE_LIBRARY = ("binding", "libllvmlite.so")  # in the llvmlite package: LLVM itself, linked in


def cache_dir() -> str | None:
    """The folder entries live in, or None when caching is off (a str: a warm start
    imports no pathlib)."""
    if os.environ.get(ENV_OFF, "") not in ("", "0"):
        return None
    from ...files import cache_folder

    return os.path.join(cache_folder(), "jit")


def _llvmlite_library() -> str | None:
    """llvmlite's shared library, found without importing llvmlite (or importlib.util, ~1.5 ms
    of a start): in the first sys.path entry holding the llvmlite package, where the import
    system finds it."""
    for entry in sys.path:
        package = os.path.join(entry or os.curdir, "llvmlite")
        if os.path.isfile(os.path.join(package, "__init__.py")):
            path = os.path.join(package, *LLVMLITE_LIBRARY)
            return path if os.path.isfile(path) else None
    return None


def llvm_facts() -> tuple:
    """backend.llvm_facts(), read from the cache when llvmlite's library file is the one
    they were recorded for (its path, size and modification time)."""
    from . import backend

    folder, library = cache_dir(), _llvmlite_library()
    memo = None
    if folder is not None and library is not None:
        stat = os.stat(library)
        identity = sha256(repr((os.path.realpath(library), stat.st_size, stat.st_mtime_ns)).encode())
        memo = os.path.join(folder, f"llvm-{identity.hexdigest()[:32]}.json")
        try:
            with open(memo, "rb") as handle:
                version, llvm_version, triple = json.loads(handle.read())
            return (str(version), tuple(int(v) for v in llvm_version), str(triple))
        except (OSError, ValueError, TypeError):
            pass
    facts = backend.llvm_facts()
    if memo is not None:
        _write(memo, json.dumps(facts).encode())
    return facts


def _generator_files() -> list[tuple[str, int, int]]:
    """The code generator's source files (GENERATOR_SOURCES) in a fixed order, each with its
    size and modification time in ns: one stat per file (a start stats them all).  A
    pattern's one `*` is matched by prefix and suffix (fnmatch would compile a regular
    expression per pattern at every start)."""
    package = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    found = []
    for pattern in GENERATOR_SOURCES:
        folder, name_pattern = os.path.split(os.path.join(package, pattern))
        head, star, tail = name_pattern.partition("*")
        names = [name for name in os.listdir(folder) if name == name_pattern or
                 star and name.startswith(head) and name.endswith(tail) and len(name) >= len(head) + len(tail)]
        for name in sorted(names):
            path = os.path.join(folder, name)
            try:
                st = os.stat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((path, st.st_size, st.st_mtime_ns))
    return found


@lru_cache(maxsize=1)
def environment_digest() -> str:
    """What every key shares: versions, target, and the code generator's source.  Hashing
    the source (~0.5 MB) cost every start ~5 ms: the digest is kept in the cache under the
    files' identities (path, size, modification time in ns, as Python trusts its .pyc files
    by), and recomputed when any of them differs."""
    from ... import __version__

    files = _generator_files()
    head = repr((__version__, *llvm_facts())).encode()
    folder = cache_dir()
    memo = None
    if folder is not None:
        identity = sha256(head + repr(files).encode()).hexdigest()[:32]
        memo = os.path.join(folder, f"env-{identity}.txt")
        try:
            with open(memo, "rb") as handle:  # bytes: a text read would import an encoding module
                known = handle.read().decode("ascii")
            if len(known) == 64 and all(c in "0123456789abcdef" for c in known):
                return known
        except (OSError, ValueError):
            pass
    digest = sha256()
    digest.update(head)
    for path, _size, _mtime in files:
        digest.update(os.path.basename(path).encode())
        with open(path, "rb") as handle:
            digest.update(handle.read())
    result = digest.hexdigest()
    if memo is not None:
        _write(memo, result.encode())
    return result


def _insn_fields(insn) -> tuple:
    reloc = insn.reloc
    where = None if reloc is None else (reloc.kind.value, reloc.symbol, reloc.map, reloc.offset)
    return (insn.pc, insn.code, insn.dst, insn.src, insn.off, insn.imm, insn.imm_hi, where)


def key_for(units, shapes, tail_targets, checked: bool, name: str, proved: bool = False) -> str:
    """The entry name for one module (hex SHA-256); `proved`: the entry program's packet
    accesses the verifier proves are emitted unchecked (proofs.py)."""
    digest = sha256(environment_digest().encode())
    for unit in units:
        digest.update(repr((unit.index, unit.name, unit.broken)).encode())
        digest.update(repr([_insn_fields(insn) for insn in unit.insns]).encode())
    digest.update(repr((shapes, sorted((tail_targets or {}).items()), checked, name, proved)).encode())
    return digest.hexdigest()


# A NamedTuple, not a dataclass: a dataclass compiles its methods with exec at every start (~0.4 ms).
class Entry(NamedTuple):
    """One verified cache entry: metadata, shared object and object code."""

    meta: dict[str, Any]
    shared: bytes  # the shared object (b"" when no linker made one)
    code: bytes  # the object code


def load_entry(key: str) -> Entry | None:
    """A verified entry, else None."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, key[:2], key), "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    head = len(MAGIC)
    if raw[:head] != MAGIC or sha256(raw[head + 32:]).digest() != raw[head:head + 32]:
        return None
    body = raw[head + 32:]
    meta_size, shared_size = int.from_bytes(body[:8], "little"), int.from_bytes(body[8:16], "little")
    meta_end = 16 + meta_size
    try:
        meta = json.loads(body[16:meta_end])
    except ValueError:
        return None
    if not isinstance(meta, dict) or meta_end + shared_size > len(body):
        return None
    return Entry(meta, body[meta_end:meta_end + shared_size], body[meta_end + shared_size:])


def load(key: str) -> tuple[bytes, dict[str, Any]] | None:
    """(object code, metadata) of a verified entry, else None."""
    entry = load_entry(key)
    return None if entry is None else (entry.code, entry.meta)


def store(key: str, code: bytes, meta: dict[str, Any], shared: bytes | None = None) -> None:
    """Write an entry atomically (`shared`: the object code linked as a shared object);
    failures leave the cache as it was."""
    folder = cache_dir()
    if folder is None:
        return
    text = json.dumps(meta, separators=(",", ":")).encode()
    shared = shared or b""
    body = len(text).to_bytes(8, "little") + len(shared).to_bytes(8, "little") + text + shared + code
    _write(os.path.join(folder, key[:2], key), MAGIC + sha256(body).digest() + body)


def _write(path: str, data: bytes) -> None:
    from ...errors import XdpError
    from ...files import atomic_write

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, data)
    except (OSError, XdpError):
        pass


def _open(entry: Entry, folder: str | None):
    """The entry's code in this process: its shared object, else its object code (MCJIT)."""
    from . import backend

    if entry.shared and folder is not None:
        compiled = backend.load_shared(entry.shared, os.path.join(folder, LOADING))
        if compiled is None:  # a read-only cache (shared by users?): the copy goes to the temp folder
            import tempfile

            compiled = backend.load_shared(entry.shared, tempfile.gettempdir())
        if compiled is not None:
            return compiled
    return backend.load_object(entry.code)


def native(key: str, build: Callable[[], tuple[bytes, dict[str, Any]]],
           check: Callable[[Any, dict[str, Any]], Any] = lambda compiled, meta: compiled) -> tuple[Any, bool]:
    """(check(code, metadata), whether it came from the cache) for the module under `key`;
    `build()` gives (object code, metadata) when the cache has no usable entry.  `check`
    turns the loaded code into what the caller keeps; its KeyError, TypeError or
    ValueError (a missing function, damaged metadata) mark the entry as damaged: it is
    rebuilt."""
    from . import backend

    folder = cache_dir()
    entry = load_entry(key)
    if entry is not None:
        try:
            return check(_open(entry, folder), entry.meta), True
        except (RuntimeError, KeyError, TypeError, ValueError):
            pass  # a damaged entry: rebuilt below
    code, meta = build()
    shared = backend.link_shared(code) if folder is not None else None
    store(key, code, meta, shared)
    return check(_open(Entry(meta, shared or b"", code), folder), meta), False


def ir_functions(name: str, ir_text: str, signatures: dict[str, Any]) -> dict[str, Any]:
    """{function name: ctypes function (signatures[name] over its address)} of a module
    given as IR text, through the cache (a process that finds it there loads no LLVM);
    "code" keeps the machine code alive.  `name` says what the module is, in its key."""
    from . import backend

    def functions(compiled, _meta) -> dict[str, Any]:
        return {"code": compiled, **{fn: signature(compiled.address(fn)) for fn, signature in signatures.items()}}

    key = sha256(f"{environment_digest()}\n{name}\n{ir_text}".encode()).hexdigest()
    return native(key, lambda: (backend.emit_object(ir_text), {}), functions)[0]
