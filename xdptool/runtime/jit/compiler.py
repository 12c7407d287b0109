"""Compile a program once: translate, add the exported entry points, JIT it.

Exported functions (C ABI):
    uint64 xdp_run(env*)                  one run with the env as prepared
    uint64 xdp_batch(env*, start, end)    the packet loop of batch.py; returns
                                          the index of the first packet not run

The result is cached on the `Program` object, keyed by what the code depends
on (the instructions never change; the map shapes and the CPU count do), so
engines created for the same program share native code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import llvmlite.ir as ir

from ...ebpf.insn import Instruction
from . import backend
from .batch import build_batch
from .env import ENV
from .helpers import HelperEmitter
from .irtypes import I64
from .memory import MemoryModel
from .translate import ENV_PTR, Translator

STACK_SIZE = 512


@dataclass
class CompiledProgram:
    compiled: backend.Compiled
    run_address: int
    batch_address: int
    helpers_called: set[int] = field(default_factory=set)
    imm_slots: dict[int, int] = field(default_factory=dict)  # ld_imm64 pc -> env.imm_table index
    messages: list[str] = field(default_factory=list)  # MESSAGE fault texts by index


def compile_program(insns: list[Instruction], *, natives=None, name: str = "prog",
                    checked: bool = True) -> CompiledProgram:
    """Native code for `insns`: the program, `xdp_run` and the `xdp_batch` loop."""
    module = backend.new_module(name)
    helpers = HelperEmitter(natives)
    memory = MemoryModel(STACK_SIZE)
    translator = Translator(module, insns, "prog", memory, helpers, checked)
    prog = translator.translate()
    run = ir.Function(module, ir.FunctionType(I64, [ENV_PTR]), name="xdp_run")
    b = ir.IRBuilder(run.append_basic_block("entry"))
    env = run.args[0]
    ENV.store(b, env, "fault_kind", ir.Constant(I64, 0))
    ENV.store(b, env, "init_regs", memory.enter_frame(module, b, env, ir.Constant(I64, 0)), index=10)
    b.ret(b.call(prog, [env]))
    build_batch(module, prog, memory)
    compiled = backend.compile_module(module)
    batch = compiled.address("xdp_batch")
    return CompiledProgram(compiled, compiled.address("xdp_run"), batch, helpers.called, translator.imm_slots,
                           translator.messages)
