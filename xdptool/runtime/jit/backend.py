"""LLVM, once per process: target set-up, optimisation, object code, and loading it.

A module is optimised and turned into position-independent object code
(`emit_object`).  The system linker makes that a shared object (`link_shared`),
which the compile cache keeps and a later process loads with the C library's
dlopen (`load_shared`): a warm start never imports llvmlite's LLVM binding
(~40 ms of a replay's start-up).  Without a linker, or where a shared object
cannot be loaded (a cache on a noexec mount), the object code is linked into an
MCJIT engine of its own (`load_object`), as before the shared objects.

Native code lives as long as what loaded it: a `Compiled` holds the MCJIT
engine or the ctypes library and hands out function addresses, so the owner of
a `Compiled` owns its machine code.  Shared objects are never unloaded.

llvmlite is imported inside the functions that use it, never at module level.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from typing import Any

_lock = threading.Lock()
_initialised = False

# Linkers tried in order for `link_shared` (the first found on PATH is used): GNU ld and
# lld take the object as it is; a compiler driver needs -nostdlib so that nothing but the
# object goes in (memcmp, memset and memcpy resolve against the process's C library when
# the shared object is loaded).
LINKERS = (("ld", "-shared", "-z", "noexecstack"), ("ld.lld", "-shared", "-z", "noexecstack"),
           ("cc", "-shared", "-nostdlib", "-Wl,-z,noexecstack"))
LINK_TIMEOUT = 60  # seconds


def target_machine():
    """A new host target machine emitting position-independent code (an MCJIT engine
    takes ownership of the one it is given and frees it with itself, so each engine
    gets its own); LLVM itself is initialised once per process."""
    import llvmlite.binding as llvm

    global _initialised
    with _lock:
        if not _initialised:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialised = True
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(opt=3, reloc="pic", codemodel="default")


def llvm_facts() -> tuple:
    """(llvmlite version, LLVM version, process triple): what object code depends on
    besides its IR.  Imports the binding (cache.environment_digest keeps this on disk)."""
    import llvmlite
    import llvmlite.binding as llvm

    return (llvmlite.__version__, tuple(llvm.llvm_version_info), llvm.get_process_triple())


def new_module(name: str):
    import llvmlite.binding as llvm
    import llvmlite.ir as ir

    module = ir.Module(name=name)
    module.triple = llvm.get_process_triple()
    return module


class Compiled:
    """Native code for one module; keep it referenced while its functions run."""

    def address(self, name: str) -> int:
        raise NotImplementedError


class McjitCompiled(Compiled):
    """Object code linked by an MCJIT engine."""

    def __init__(self, engine: Any, objects: Any) -> None:
        self.engine = engine  # llvmlite.binding.ExecutionEngine
        self.objects = objects

    def address(self, name: str) -> int:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise KeyError(name)
        return addr


class SharedCompiled(Compiled):
    """A shared object loaded with dlopen (ctypes)."""

    def __init__(self, library: Any) -> None:
        self.library = library  # ctypes.CDLL

    def address(self, name: str) -> int:
        import ctypes

        try:
            function = getattr(self.library, name)
        except AttributeError:
            raise KeyError(name) from None
        address = ctypes.cast(function, ctypes.c_void_p).value
        if not address:
            raise KeyError(name)
        return address


def emit_object(module, opt_level: int = 2) -> bytes:
    """Verify, optimise (the `default<O2>` pipeline) and compile `module` (an llvmlite
    module or IR text) to object code."""
    import llvmlite.binding as llvm

    tm = target_machine()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    tuning = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    builder = llvm.create_pass_builder(tm, tuning)
    builder.getModulePassManager().run(parsed, builder)
    return tm.emit_object(parsed)


def load_object(code: bytes) -> Compiled:
    """Object code from `emit_object` (or the cache), linked into the process by MCJIT."""
    import llvmlite.binding as llvm

    empty = llvm.parse_assembly("")
    empty.triple = llvm.get_process_triple()
    engine = llvm.create_mcjit_compiler(empty, target_machine())
    objects = llvm.ObjectFileRef.from_data(code)
    engine.add_object_file(objects)
    engine.finalize_object()
    return McjitCompiled(engine=engine, objects=objects)


def linker() -> tuple[str, ...] | None:
    """The command line (without files) of the first linker found, or None."""
    import shutil

    for command in LINKERS:
        found = shutil.which(command[0])
        if found:
            return (found, *command[1:])
    return None


def link_shared(code: bytes) -> bytes | None:
    """Object code as a shared object's bytes, or None when no linker can make one."""
    import subprocess
    import tempfile

    command = linker()
    if command is None:
        return None
    from pathlib import Path  # only when linking: a warm start imports no pathlib

    with tempfile.TemporaryDirectory(prefix="xdptool-link-") as folder:
        source, output = Path(folder, "code.o"), Path(folder, "code.so")
        source.write_bytes(code)
        try:
            subprocess.run([*command, "-o", str(output), str(source)], check=True, timeout=LINK_TIMEOUT,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return output.read_bytes()
        except (OSError, subprocess.SubprocessError):
            return None


_loads = itertools.count()


def load_shared(image: bytes, folder: str | os.PathLike) -> Compiled | None:
    """`image` (a shared object's bytes) loaded from a private copy written into `folder`,
    or None when it cannot be (a noexec mount, a read-only folder).

    The copy is unlinked once loaded: each load maps its own inode, so later changes to
    the cache never touch loaded code, and the name (pid and a per-process counter) is
    never reused within the process, whose dynamic loader would otherwise hand back an
    earlier library of the same name."""
    import ctypes

    path = os.path.join(folder, f"xdptool-jit-{os.getpid()}-{next(_loads)}.so")
    created = False
    try:
        os.makedirs(folder, exist_ok=True)
        with open(path, "xb") as handle:
            created = True
            handle.write(image)
        return SharedCompiled(ctypes.CDLL(str(path)))
    except OSError:
        return None
    finally:
        if created:
            with contextlib.suppress(OSError):
                os.unlink(path)
