"""LLVM, once per process: target set-up, optimisation, object code, and loading it.

A module is optimised and turned into object code (`emit_object`), which the
compile cache can keep; `load_object` links object code into an MCJIT engine of
its own.  llvmlite keeps the native code alive only as long as its execution
engine; a `Compiled` holds the engine and hands out function addresses, so the
engine object owning a `Compiled` owns its machine code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import llvmlite.binding as llvm
import llvmlite.ir as ir

_lock = threading.Lock()
_initialised = False


def target_machine():
    """A new host target machine (an MCJIT engine takes ownership of the one it is
    given and frees it with itself, so each engine gets its own); LLVM itself
    is initialised once per process."""
    global _initialised
    with _lock:
        if not _initialised:
            llvm.initialize_native_target()
            llvm.initialize_native_asmprinter()
            _initialised = True
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(opt=3, codemodel="jitdefault")


def new_module(name: str) -> ir.Module:
    module = ir.Module(name=name)
    module.triple = llvm.get_process_triple()
    return module


@dataclass
class Compiled:
    """Native code for one module; keep it referenced while its functions run."""

    engine: object
    objects: object

    def address(self, name: str) -> int:
        addr = self.engine.get_function_address(name)
        if not addr:
            raise KeyError(name)
        return addr


def emit_object(module: ir.Module, opt_level: int = 2) -> bytes:
    """Verify, optimise (the `default<O2>` pipeline) and compile `module` to object code."""
    tm = target_machine()
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    tuning = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    builder = llvm.create_pass_builder(tm, tuning)
    builder.getModulePassManager().run(parsed, builder)
    return tm.emit_object(parsed)


def load_object(code: bytes) -> Compiled:
    """Object code from `emit_object` (or the cache), linked into the process."""
    empty = llvm.parse_assembly("")
    empty.triple = llvm.get_process_triple()
    engine = llvm.create_mcjit_compiler(empty, target_machine())
    objects = llvm.ObjectFileRef.from_data(code)
    engine.add_object_file(objects)
    engine.finalize_object()
    return Compiled(engine=engine, objects=objects)
