"""Compile a program once: translate, add the exported entry points, JIT it.

Exported functions (C ABI):
    uint64 xdp_run(env*)                  one run with the env as prepared
    uint64 xdp_batch(env*, start, end)    the packet loop of batch.py; returns
                                          the index of the first packet not run

LLVM's code for the module goes through the persistent cache (cache.py): a
program compiled once starts in milliseconds the next time, from a shared
object, without importing LLVM or this package's code generator (translate,
natives, batch ... are imported only to build).  Within a process the result
is also cached on the `Program` object (engine.py), keyed by what the code
depends on, so engines created for the same program share native code.
"""

from __future__ import annotations


from ..config import MAX_BPF_STACK
from . import backend, cache

# a frame's size, as the interpreter's stack regions (MemoryModel._unchecked relies on it being theirs)
STACK_SIZE = MAX_BPF_STACK


class CompiledProgram:
    """A program's native code and the tables the engine needs beside it.  (A plain class,
    not a dataclass: a dataclass compiles its methods at every start.)"""

    __slots__ = ("compiled", "run_address", "batch_address", "helpers_called", "imm_slots", "messages",
                 "printk_native", "printk_formats", "in_place", "from_cache")

    def __init__(self, compiled: backend.Compiled | None, run_address: int, batch_address: int,
                 helpers_called: set[int], imm_slots: dict[tuple[int, int], int], messages: list[str],
                 printk_native: bool, printk_formats: list[bytes], in_place: bool = False) -> None:
        self.compiled, self.run_address, self.batch_address = compiled, run_address, batch_address
        self.helpers_called = helpers_called
        self.imm_slots = imm_slots  # (unit, ld_imm64 pc) -> env.imm_table index
        self.messages = messages  # MESSAGE fault texts by index
        # trace_printk (printk.py): whether its lines go to the event log, the native sites' formats
        self.printk_native, self.printk_formats = printk_native, printk_formats
        self.in_place = in_place  # the packet loop runs packets where the input holds them (batch.py)
        self.from_cache = False

    def meta(self) -> dict:
        """The tables beside the code, as the cache stores them (JSON)."""
        return {"helpers_called": sorted(self.helpers_called), "messages": self.messages,
                "imm_slots": [[unit, pc, slot] for (unit, pc), slot in self.imm_slots.items()],
                "printk_native": self.printk_native, "printk_formats": [f.hex() for f in self.printk_formats],
                "in_place": self.in_place}


def _build(units, shapes, tail_targets, name: str, checked: bool, read_only: bool = False) -> tuple[bytes, dict]:
    """The module's object code and its tables; `read_only`: unit 0 cannot change the
    packet (proofs.py), so the packet loop runs packets in place when nothing else can
    (no other unit: a tail call's target is not proved)."""
    import llvmlite.ir as ir

    from .batch import build_batch
    from .env import ENV
    from .helpers import HelperEmitter
    from .irtypes import I64
    from .memory import MemoryModel
    from .dynptr import KFUNC_NATIVES
    from .iters import KFUNC_NATIVES as ITER_NATIVES
    from .natives import native_emitters
    from .records import reset_records
    from .stack_use import zeroed_bytes
    from .translate import ENV_PTR, Translator

    module = backend.new_module(name)
    helpers = HelperEmitter(native_emitters(shapes, tail_targets), {**KFUNC_NATIVES, **ITER_NATIVES})
    memory = MemoryModel(STACK_SIZE, zeroed_bytes([unit.insns for unit in units], STACK_SIZE))
    memory.tag(module)
    translator = Translator(module, units, "prog", memory, helpers, checked)
    prog = translator.translate()
    run = ir.Function(module, ir.FunctionType(I64, [ENV_PTR]), name="xdp_run")
    b = ir.IRBuilder(run.append_basic_block("entry"))
    env = run.args[0]
    ENV.store(b, env, "fault_kind", ir.Constant(I64, 0))
    b.call(reset_records(module), [env])
    ENV.store(b, env, "init_regs", memory.enter_frame(module, b, env, ir.Constant(I64, 0)), index=10)
    b.ret(b.call(prog, [env]))
    in_place = read_only and len(units) == 1
    build_batch(module, prog, memory, in_place)
    meta = CompiledProgram(None, 0, 0, helpers.called, translator.imm_slots, translator.messages,
                           translator.__dict__.get("printk_native", False),
                           translator.__dict__.get("printk_formats", []), in_place).meta()
    return backend.emit_object(module), meta


def compile_program(units, shapes=(), *, tail_targets: dict[int, int] | None = None,
                    name: str = "prog", checked: bool = True, program=None) -> CompiledProgram:
    """Native code for `units` (translate.Unit; unit 0 the entry program): the program,
    `xdp_run` and the `xdp_batch` loop, from the persistent cache when it has them.
    `program`: unit 0's Program, whose packet accesses the verifier proves are emitted
    unchecked (proofs.py; asked only when the cache has no entry)."""
    key = cache.key_for(units, shapes, tail_targets, checked, name, proved=program is not None)

    def build() -> tuple[bytes, dict]:
        if program is None:
            return _build(units, shapes, tail_targets, name, checked)
        from .proofs import packet_proof

        proof = packet_proof(program)
        built = [units[0]._replace(proven=proof.accesses), *units[1:]]
        return _build(built, shapes, tail_targets, name, checked, proof.read_only)

    result, from_cache = cache.native(key, build, _program)
    result.from_cache = from_cache
    return result


def _program(compiled: backend.Compiled, meta: dict) -> CompiledProgram:
    return CompiledProgram(compiled, compiled.address("xdp_run"), compiled.address("xdp_batch"),
                           set(meta["helpers_called"]), {(u, pc): slot for u, pc, slot in meta["imm_slots"]},
                           list(meta["messages"]), meta.get("printk_native", False),
                           [bytes.fromhex(f) for f in meta.get("printk_formats", [])], meta.get("in_place", False))
