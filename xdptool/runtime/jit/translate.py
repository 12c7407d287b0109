"""Translate eBPF programs into one LLVM function `i64 prog(env*)`.

The function holds the entry program and, when it makes tail calls, every
program a prog_array slot may name (a *unit* each, unit 0 the entry): a tail
call is a branch to another unit's first block, so frames, the instruction
count and the budget carry across it as in the interpreter.

Shape of the generated code:
- the eleven registers are i64 allocas (LLVM's mem2reg turns them into SSA);
- one basic block per instruction slot, fall-through made explicit, so jumps
  are plain branches and LLVM merges the straight-line runs;
- an executed-instruction counter, incremented per instruction (constant-folded
  per run of straight-line code); when a run could exceed the budget (a real
  cycle in the control-flow graph, callbacks, or a worst-case path longer than
  the budget: `needs_budget_checks`) every instruction first checks it against
  `env.insn_limit`, which is exactly where the interpreter stops a runaway run
  (after the budget's last instruction, reporting the next one).  Each
  activation (the program, each callback invocation) has its own budget, as
  `VmEngine._loop` gives it: `count - base` is the activation's own count;
  instructions run by nested callbacks raise `base`;
- BPF-to-BPF calls use an explicit frame stack inside the one function (return
  site, R6-R10 saved per frame) and return through a `switch` on the return
  site; the depth limit is the VM's;
- may_goto's hidden loop budget (semantics.MayGoto) is one word per call depth,
  set where a frame starts (the entry, each call and callback invocation, each
  tail call, through the unit's prologue block), emitted only for programs that
  have a may_goto;
- memory accesses and helper calls are delegated to `MemoryModel` and
  `HelperEmitter` (memory.py, helpers.py) which also own the fault paths.

A fault stores (kind, pc, address, size) into the env and returns; the caller
looks at `env.fault_kind`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...ebpf.insn import Instruction
from ...ebpf.opcodes import BYTE_SWAPS, LD_IMM64, Alu, AtomicOp, Cls, JmpOp, Mode, PseudoSrc
from ...ebpf.validate import FRAME_POINTER, register_effects
from ...elf.model import RelocKind
from ...errors import XdpError
from ...platform.helpers import XDP_HELPERS, Arg
from ..helpers import LOCK_HELD_AT_EXIT, SPIN_LOCK_ID
from . import alu
from .ctx_regs import ctx_registers
from .env import ENV, FaultKind
from .memory import ctx_field_at
from .irtypes import I32, I64, I8P, c64, c32
from .units import TAIL_CALL, Unit, needs_budget_checks, worst_case_insns  # noqa: F401 - the names IR modules import from here

if TYPE_CHECKING:
    from .helpers import HelperEmitter
    from .memory import MemoryModel

ENV_PTR = I8P

MAX_FRAMES = 8  # MAX_CALL_FRAMES in the kernel's verifier (include/linux/bpf_verifier.h)
CALLEE_SAVED = (6, 7, 8, 9, 10)
ARGS = (1, 2, 3, 4, 5)
# Words saved per call frame: the return site, R6-R10, and for bpf_loop callbacks
# (control.py) R0-R5 and the loop's state.
FRAME_SITE = 0
FRAME_CALLEE = 1  # .. +5: R6-R10
FRAME_ARGS = 6  # .. +6: R0-R5 (VmEngine.call_function restores them after each callback)
FRAME_LOOP_I, FRAME_LOOP_N, FRAME_LOOP_CTX, FRAME_LOOP_FUNC = 12, 13, 14, 15
# when the callback began: the caller's budget base, the count, the callbacks' count
FRAME_BASE, FRAME_ENTRY_COUNT, FRAME_ENTRY_CALLBACKS = 16, 17, 18
FRAME_WORDS = 19


class JitUnsupported(XdpError):
    """The program uses something the JIT does not translate."""


class _Invalid(Exception):
    """An instruction the interpreter faults on when it runs; carries its message."""


class Translator:
    """Builds the function for a list of units; `translate()` returns it."""

    ctx_regs: dict[int, frozenset[int]]  # the unit being emitted's (see _prepare)
    proven: frozenset[int]  # likewise

    def __init__(self, module: ir.Module, units: list[Unit], name: str,
                 memory: "MemoryModel", helpers: "HelperEmitter", checked: bool = True):
        self.module = module
        self.units = units
        self.memory = memory
        self.helpers = helpers
        self.checked = checked
        self.fn = ir.Function(module, ir.FunctionType(I64, [ENV_PTR]), name=name)
        self.fn.linkage = "internal"
        self.env = self.fn.args[0]
        self.return_sites: list[ir.Block] = []
        self.messages: list[str] = []  # texts of MESSAGE faults, by index
        self.imm_slots: dict[tuple[int, int], int] = {}  # (unit, pc) of a relocated ld_imm64 -> env.imm_table index
        self.unit_entries: dict[int, ir.Block] = {}
        self._unit_state: dict[int, dict] = {}

    # -- the unit being emitted -------------------------------------------------
    def _enter(self, unit: Unit) -> None:
        """Point the per-program attributes (insns, blocks, ...) at `unit`."""
        self.unit = unit
        self.__dict__.update(self._unit_state[unit.index])

    def _prepare(self, unit: Unit) -> None:
        prefix = f"u{unit.index}." if unit.index else ""
        blocks = {insn.pc: self.fn.append_basic_block(f"{prefix}pc{insn.pc}") for insn in unit.insns}
        fall_off_end = self.fn.append_basic_block(f"{prefix}fall_off_end")
        self._unit_state[unit.index] = {
            "insns": unit.insns,
            "by_pc": {insn.pc: insn for insn in unit.insns},
            "position": {insn.pc: i for i, insn in enumerate(unit.insns)},
            "blocks": blocks,
            "fall_off_end": fall_off_end,
            "slots": sum(insn.slots for insn in unit.insns),
            "bad_jumps": [],
            "join_points": _join_points(unit.insns),
            # registers expected to hold the context (ctx_regs.py); unit 0 alone, and only when no tail
            # call can enter it again with whatever the caller left in r1
            "ctx_regs": ctx_registers(unit.insns) if unit.index == 0 and len(self.units) == 1 else {},
            "proven": unit.proven,  # packet accesses the verifier proved in bounds (proofs.py)
        }
        if unit.broken is not None or not unit.insns:
            entry = fall_off_end
        else:
            entry = blocks[unit.insns[0].pc]
            if self.has_may_goto:  # the program's first instruction is no jump target's
                prologue = self.fn.append_basic_block(f"{prefix}prologue")
                pb = ir.IRBuilder(prologue)
                pb.store(self.may_goto_budget, self.may_goto_slot(pb, pb.load(self.depth)))
                pb.branch(entry)
                entry = prologue
        self.unit_entries[unit.index] = entry

    # -- small helpers -------------------------------------------------------
    def reg(self, b: ir.IRBuilder, n: int) -> ir.Value:
        return b.load(self.regs[n])

    def set_reg(self, b: ir.IRBuilder, n: int, value: ir.Value) -> None:
        if value.type != I64:
            value = b.zext(value, I64)
        b.store(value, self.regs[n])

    def next_block(self, insn: Instruction) -> ir.Block:
        nxt = insn.pc + insn.slots
        if nxt not in self.blocks:
            return self.fall_off_end
        return self.blocks[nxt]

    def target_block(self, insn: Instruction, target: int) -> ir.Block:
        block = self.blocks.get(target)
        if block is None:
            # The interpreter gives each invalid target a faulting slot appended after
            # the program (slot `slots + k` for the k-th) and faults when it is reached.
            block = self.fn.append_basic_block(f"pc{insn.pc}.badjump")
            text = f"jump from {insn.pc} to invalid pc {target}"
            self.bad_jumps.append(text)
            bb = ir.IRBuilder(block)
            self._check_budget(bb, self.slots + len(self.bad_jumps) - 1)
            self.message_fault(bb, self.slots + len(self.bad_jumps) - 1, text, executed=1)
        return block

    def fault(self, b: ir.IRBuilder, kind: FaultKind, pc: int, address: ir.Value | None = None,
              size: ir.Value | int = 0) -> None:
        """Record a fault in the env and leave the function (terminates the block)."""
        ENV.store(b, self.env, "fault_kind", c32(kind))
        ENV.store(b, self.env, "fault_pc", c64(pc))
        ENV.store(b, self.env, "fault_prog", c64(self.unit.index))
        ENV.store(b, self.env, "fault_addr", address if address is not None else c64(0))
        ENV.store(b, self.env, "fault_size", c64(size) if isinstance(size, int) else size)
        self.store_count(b)
        b.ret(c64(0))

    def message_fault(self, b: ir.IRBuilder, pc: int, text: str, executed: int = 0) -> None:
        """A fault with a fixed message (the interpreter's wording); `executed` more
        instructions are counted (the interpreter counts running a faulting slot)."""
        if executed:
            b.store(b.add(b.load(self.count), c64(executed)), self.count)
        self.messages.append(text)
        self.fault(b, FaultKind.MESSAGE, pc, c64(len(self.messages) - 1))

    def store_count(self, b: ir.IRBuilder) -> None:
        ENV.store(b, self.env, "insns", b.load(self.count))

    def add_nested(self, b: ir.IRBuilder, ran: ir.Value) -> None:
        """`ran` instructions ran in a completed nested activation (a callback): they are
        counted, and charged to the callbacks' total, not to this activation's budget."""
        b.store(b.add(b.load(self.count), ran), self.count)
        b.store(b.add(b.load(self.callback_count), ran), self.callback_count)
        b.store(b.add(b.load(self.base), ran), self.base)

    # -- driver ----------------------------------------------------------------
    def translate(self) -> ir.Function:
        entry = self.fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        self.regs = [b.alloca(I64, name=f"r{n}") for n in range(11)]
        self.count = b.alloca(I64, name="count")
        self.callback_count = b.alloca(I64, name="callback_count")  # run by callbacks (all levels)
        self.base = b.alloca(I64, name="base")  # count - base = this activation's own count
        self.depth = b.alloca(I64, name="depth")
        self.tail_calls = b.alloca(I64, name="tail_calls")
        self.saved = b.alloca(ir.ArrayType(I64, MAX_FRAMES * FRAME_WORDS), name="frames")
        self.key_slot = b.alloca(I64, name="key_slot")  # a u32 key in memory (redirect_map on devmap_hash)
        self.has_may_goto = any(insn.is_may_goto for unit in self.units for insn in unit.insns)
        # r10 holds nothing but frame pointers unless an instruction writes it (the engines run
        # programs ebpf.validate.check_initialised would refuse; one unit's r10 is the next's)
        self.frame_pointer_fixed = not any(FRAME_POINTER in register_effects(insn)[1]
                                           for unit in self.units for insn in unit.insns)
        self.takes_locks = any(insn.is_helper_call and insn.imm == SPIN_LOCK_ID
                               for unit in self.units for insn in unit.insns)
        if self.takes_locks:
            ENV.store(b, self.env, "spin_lock", c64(0))
        if self.has_may_goto:
            self.may_goto_left = b.alloca(ir.ArrayType(I64, MAX_FRAMES), name="may_goto_left")
            self.may_goto_budget = ENV.load(b, self.env, "may_goto_budget")
        for n in range(11):
            b.store(ENV.load(b, self.env, "init_regs", index=n), self.regs[n])
        for var in (self.count, self.callback_count, self.base, self.depth, self.tail_calls):
            b.store(c64(0), var)
        self.limit = ENV.load(b, self.env, "insn_limit")
        for unit in self.units:
            self._prepare(unit)
        self._enter(self.units[0])
        b.branch(self.unit_entries[0])
        for unit in self.units:
            self._enter(unit)
            self._emit_unit(unit)
        self._enter(self.units[0])
        self._emit_return_dispatch()
        return self.fn

    def _emit_unit(self, unit: Unit) -> None:
        fb = ir.IRBuilder(self.fall_off_end)
        if unit.broken is not None:
            # a tail call into a program the interpreter could not compile (VmEngine.tail_call)
            self.message_fault(fb, 0, f"tail call into {unit.name}: {unit.broken}")
            return
        for insn in unit.insns:
            self._emit(insn)
        self._check_budget(fb, self.slots)
        # Past the end is slot `slots`: the first invalid-target slot if there is one.
        end_text = self.bad_jumps[0] if self.bad_jumps else "execution ran past the end of the program"
        self.message_fault(fb, self.slots, end_text, executed=1)

    def _emit(self, insn: Instruction) -> None:
        b = ir.IRBuilder(self.blocks[insn.pc])
        self._check_budget(b, insn.pc)
        b.store(b.add(b.load(self.count), c64(1)), self.count)
        try:
            _CLASS_HANDLERS[insn.cls](self, b, insn)
        except _Invalid as invalid:
            self.message_fault(b, insn.pc, str(invalid))

    def _check_budget(self, b: ir.IRBuilder, pc: int) -> None:
        """Stop before running `pc` once the budget is spent (VmEngine._loop's n > budget)."""
        if not self.checked:
            return
        own = b.sub(b.load(self.count), b.load(self.base))
        with b.if_then(b.icmp_unsigned(">", own, self.limit), likely=False):
            self.fault(b, FaultKind.INSN_LIMIT, pc)

    # -- ALU ---------------------------------------------------------------------
    def _source(self, b: ir.IRBuilder, insn: Instruction, width: ir.IntType) -> ir.Value:
        if insn.uses_reg_src:
            value = self.reg(b, insn.src)
            return b.trunc(value, width) if width is I32 else value
        return c32(insn.imm) if width is I32 else c64(insn.imm)  # imm sign-extended to 64

    def _alu(self, b: ir.IRBuilder, insn: Instruction) -> None:
        wide = insn.cls == Cls.ALU64
        width = I64 if wide else I32
        variant = insn.alu
        if variant is None or insn.dst > 10 or (insn.uses_reg_src and insn.src > 10):
            raise _Invalid(f"invalid ALU instruction (code {insn.code:#04x}, off {insn.off})")
        if variant in BYTE_SWAPS:
            self._endian(b, insn, variant)
        else:
            dst = self.reg(b, insn.dst)
            if not wide:
                dst = b.trunc(dst, I32)
            self.set_reg(b, insn.dst, alu.BINARY[variant](b, dst, self._source(b, insn, width)))
        b.branch(self.next_block(insn))

    def _endian(self, b: ir.IRBuilder, insn: Instruction, variant: Alu) -> None:
        bits = insn.imm
        if bits not in (16, 32, 64):
            raise _Invalid(f"invalid byte swap width {bits}")
        value = self.reg(b, insn.dst)
        swap = variant is not Alu.TO_LE  # bswap, or to_be on a little-endian host
        result = alu.byte_swap(b, self.module, value, bits) if swap else alu.truncate_to(b, value, bits)
        self.set_reg(b, insn.dst, result)

    # -- jumps, calls, exit --------------------------------------------------------
    def _jump(self, b: ir.IRBuilder, insn: Instruction) -> None:
        op = insn.op
        if op == JmpOp.JA:
            b.branch(self.target_block(insn, insn.target))
            return
        if op == JmpOp.EXIT:
            self._exit(b, insn)
            return
        if op == JmpOp.CALL:
            self._call(b, insn)
            return
        if op == JmpOp.JCOND:
            self._may_goto(b, insn)
            return
        width = I32 if insn.cls == Cls.JMP32 else I64
        dst = self.reg(b, insn.dst)
        if width is I32:
            dst = b.trunc(dst, I32)
        try:
            cond = alu.compare(b, JmpOp(op), dst, self._source(b, insn, width))
        except (KeyError, ValueError):
            raise _Invalid(f"invalid jump instruction (code {insn.code:#04x})") from None
        b.cbranch(cond, self.target_block(insn, insn.target), self.next_block(insn))

    def _call(self, b: ir.IRBuilder, insn: Instruction) -> None:
        if may_reach_packet(insn):
            self.memory.mark_written(b, self.env)
        if insn.is_local_call:
            self._local_call(b, insn)
        elif insn.uses_reg_src:  # callx: helper id in a register
            self.helpers.emit_dynamic_call(self, b, insn)
            b.branch(self.next_block(insn))
        elif insn.is_helper_call:
            self.helpers.emit_call(self, b, insn)
            b.branch(self.next_block(insn))
        else:  # a kfunc: through the Python callback (runtime/kfuncs.py)
            self.helpers.emit_kfunc_call(self, b, insn)
            b.branch(self.next_block(insn))

    def frame_slot(self, b: ir.IRBuilder, depth: ir.Value, index: int) -> ir.Value:
        """Pointer to word `index` (FRAME_*) of the frame saved at call depth `depth`."""
        at = b.add(b.mul(depth, c64(FRAME_WORDS)), c64(index))
        return b.gep(self.saved, [c32(0), at])

    def push_frame(self, b: ir.IRBuilder, insn: Instruction, return_to: ir.Block) -> ir.Value:
        """A call's frame: the depth check (the interpreter's _push_frame), the return site
        and R6-R10 saved; returns the caller's depth (the frame's index)."""
        depth = b.load(self.depth)
        too_deep = b.icmp_unsigned(">=", depth, c64(MAX_FRAMES - 1))
        with b.if_then(too_deep, likely=False):
            self.message_fault(b, insn.pc, f"call depth exceeds {MAX_FRAMES} frames")
        site = len(self.return_sites)
        self.return_sites.append(return_to)
        b.store(c64(site), self.frame_slot(b, depth, FRAME_SITE))
        for i, n in enumerate(CALLEE_SAVED):
            b.store(self.reg(b, n), self.frame_slot(b, depth, FRAME_CALLEE + i))
        return depth

    def enter_callee(self, b: ir.IRBuilder, depth: ir.Value) -> None:
        """One frame deeper, with a fresh zeroed stack (and may_goto budget) for the callee."""
        new_depth = b.add(depth, c64(1))
        b.store(new_depth, self.depth)
        self.set_reg(b, 10, self.memory.frame_pointer(self, b, new_depth))
        if self.has_may_goto:
            b.store(self.may_goto_budget, self.may_goto_slot(b, new_depth))

    def may_goto_slot(self, b: ir.IRBuilder, depth: ir.Value) -> ir.Value:
        return b.gep(self.may_goto_left, [c32(0), depth])

    def _may_goto(self, b: ir.IRBuilder, insn: Instruction) -> None:
        """semantics.MayGoto: fall through while the frame's budget lasts, taking one from it."""
        if not insn.is_may_goto or insn.dst or insn.imm:
            raise _Invalid(f"invalid may_goto (src {insn.src}, dst {insn.dst}, imm {insn.imm})")
        slot = self.may_goto_slot(b, b.load(self.depth))
        left = b.load(slot)
        spent = b.icmp_unsigned("==", left, c64(0))
        b.store(b.select(spent, left, b.sub(left, c64(1))), slot)
        b.cbranch(spent, self.target_block(insn, insn.target), self.next_block(insn))

    def _local_call(self, b: ir.IRBuilder, insn: Instruction) -> None:
        depth = self.push_frame(b, insn, self.next_block(insn))
        self.enter_callee(b, depth)
        b.branch(self.target_block(insn, insn.target))

    def _exit(self, b: ir.IRBuilder, insn: Instruction) -> None:
        depth = b.load(self.depth)
        in_sub = b.icmp_unsigned("!=", depth, c64(0))
        returning = b.append_basic_block(f"pc{insn.pc}.return")
        leaving = b.append_basic_block(f"pc{insn.pc}.leave")
        b.cbranch(in_sub, returning, leaving)
        rb = ir.IRBuilder(returning)
        prev = rb.sub(depth, c64(1))
        rb.store(prev, self.depth)
        for i, n in enumerate(CALLEE_SAVED):
            rb.store(rb.load(self.frame_slot(rb, prev, FRAME_CALLEE + i)), self.regs[n])
        rb.branch(self.return_dispatch)
        b.position_at_end(leaving)
        if self.takes_locks:  # check_resource_leak: the main program exits with no lock held
            held = b.icmp_unsigned("!=", ENV.load(b, self.env, "spin_lock"), c64(0))
            with b.if_then(held, likely=False):
                self.message_fault(b, insn.pc, LOCK_HELD_AT_EXIT)
        self.store_count(b)
        b.ret(self.reg(b, 0))

    @property
    def return_dispatch(self) -> ir.Block:
        block = getattr(self, "_return_dispatch", None)
        if block is None:
            block = self._return_dispatch = self.fn.append_basic_block("return_dispatch")
        return block

    def _emit_return_dispatch(self) -> None:
        block = getattr(self, "_return_dispatch", None)
        if block is None:
            return
        b = ir.IRBuilder(block)
        site = b.load(self.frame_slot(b, b.load(self.depth), FRAME_SITE))
        switch = b.switch(site, self.fall_off_end)
        for n, target in enumerate(self.return_sites):
            switch.add_case(c64(n), target)

    # -- loads, stores, atomics, ld_imm64 -----------------------------------------------
    def _ld(self, b: ir.IRBuilder, insn: Instruction) -> None:
        if insn.code != LD_IMM64:
            if insn.mode in (Mode.ABS, Mode.IND):
                raise _Invalid(f"legacy {Mode(insn.mode).name} packet loads are not supported for XDP programs")
            raise _Invalid(f"invalid instruction code {insn.code:#04x}")
        self.set_reg(b, insn.dst, self.memory.imm64_value(self, b, insn))
        b.branch(self.next_block(insn))

    def _address(self, b: ir.IRBuilder, insn: Instruction, base: int) -> tuple[ir.Value, tuple[ir.Value, int, bool, bool]]:
        """The address reg[base] + insn.off, and its parts (MemoryModel._split): the base, the
        offset, whether the base is the frame pointer, never written by the program, and
        whether the verifier proved the access inside the packet (MemoryModel._unchecked)."""
        value = self.reg(b, base)
        return b.add(value, c64(insn.off)), (value, insn.off, base == FRAME_POINTER and self.frame_pointer_fixed,
                                             insn.pc in self.proven)

    def _ldx(self, b: ir.IRBuilder, insn: Instruction) -> None:
        if insn.mode not in (Mode.MEM, Mode.MEMSX):
            raise _Invalid(f"{_mode_name(insn.mode)} loads are not supported for XDP programs")
        size = insn.size_bytes
        addr, parts = self._address(b, insn, insn.src)
        if insn.src in self.ctx_regs.get(insn.pc, ()) and insn.mode == Mode.MEM and ctx_field_at(insn.off, size):
            value = self.memory.load_expected_field(self, b, insn, addr, size, parts)
        else:
            value = self.memory.load_value(self, b, insn, addr, size, parts)
        if size < 8 and insn.mode == Mode.MEMSX:
            value = b.sext(b.trunc(value, ir.IntType(size * 8)), I64)
        self.set_reg(b, insn.dst, value)
        b.branch(self.next_block(insn))

    def _store(self, b: ir.IRBuilder, insn: Instruction) -> None:
        if insn.mode == Mode.ATOMIC and insn.cls == Cls.STX:
            self._atomic(b, insn)
            return
        if insn.mode != Mode.MEM:
            raise _Invalid(f"invalid store instruction (code {insn.code:#04x})")
        size = insn.size_bytes
        ty = ir.IntType(size * 8)
        value = self.reg(b, insn.src) if insn.cls == Cls.STX else c64(insn.imm)
        addr, parts = self._address(b, insn, insn.dst)
        ptr = self.memory.access(self, b, insn, addr, size, write=True, parts=parts)
        self.memory.guest(b.store(b.trunc(value, ty) if size < 8 else value, b.bitcast(ptr, ty.as_pointer()), align=1))
        b.branch(self.next_block(insn))

    def _atomic(self, b: ir.IRBuilder, insn: Instruction) -> None:
        size = insn.size_bytes
        if size not in (4, 8):
            raise _Invalid(f"invalid atomic size {size}")
        if insn.imm not in _ATOMIC_RMW and insn.imm not in (AtomicOp.XCHG, AtomicOp.CMPXCHG):
            raise _Invalid(f"invalid atomic operation {insn.imm:#x}")
        ty = ir.IntType(size * 8)
        addr, parts = self._address(b, insn, insn.dst)
        ptr = b.bitcast(self.memory.access(self, b, insn, addr, size, write=True, atomic=True, parts=parts),
                        ty.as_pointer())
        old = b.load(ptr, align=1)
        src = b.trunc(self.reg(b, insn.src), ty) if size == 4 else self.reg(b, insn.src)
        op = insn.imm
        if op == AtomicOp.CMPXCHG:
            expected = b.trunc(self.reg(b, 0), ty) if size == 4 else self.reg(b, 0)
            b.store(b.select(b.icmp_unsigned("==", old, expected), src, old), ptr, align=1)
            self.set_reg(b, 0, old)
        elif op == AtomicOp.XCHG:
            b.store(src, ptr, align=1)
            self.set_reg(b, insn.src, old)
        else:
            kind, fetch = _ATOMIC_RMW[op]
            b.store(getattr(b, kind)(old, src), ptr, align=1)
            if fetch:
                self.set_reg(b, insn.src, old)
        b.branch(self.next_block(insn))


# Helper arguments through which a helper reaches the packet's bytes itself (the context:
# xdp_store_bytes, adjust_*; a dynptr: dynptr_write); memory arguments it writes go through
# MemoryModel.access, which notes a write to the packet on its own.
PACKET_ARGS = frozenset({Arg.CTX, Arg.DYNPTR, Arg.DYNPTR_LOCAL_UNINIT, Arg.DYNPTR_RINGBUF_UNINIT,
                         Arg.DYNPTR_RINGBUF_RELEASE})


def may_reach_packet(insn: Instruction) -> bool:
    """Whether a call may change the packet's bytes other than through a checked store: a
    helper given the context or a dynptr, a kfunc, callx, or a helper xdptool has no
    prototype of (Python helpers also set env.cb_used, which the packet loop reads)."""
    if insn.is_local_call:
        return False
    helper = XDP_HELPERS.get(insn.imm) if insn.is_helper_call else None
    return helper is None or any(arg in PACKET_ARGS for arg in helper.args)


def _join_points(insns: list[Instruction]) -> set[int]:
    """Slots control may reach other than by falling through (jump, call and callback targets)."""
    heads = set()
    for insn in insns:
        if insn.is_branch or insn.is_local_call:
            heads.add(insn.target)
        elif insn.is_ld_imm64 and insn.src == PseudoSrc.FUNC:
            heads.add(insn.pc + 1 + insn.imm)
        elif insn.is_ld_imm64 and insn.reloc is not None and insn.reloc.kind is RelocKind.FUNC:
            heads.add(insn.reloc.offset)
    return heads


def _mode_name(mode: int) -> str:
    try:
        return Mode(mode).name
    except ValueError:
        return f"mode {mode:#x}"


# Atomic read-modify-write: imm -> (builder method, fetch?)
_ATOMIC_RMW = {
    AtomicOp.ADD: ("add", False),
    AtomicOp.OR: ("or_", False),
    AtomicOp.AND: ("and_", False),
    AtomicOp.XOR: ("xor", False),
    AtomicOp.FETCH_ADD: ("add", True),
    AtomicOp.FETCH_OR: ("or_", True),
    AtomicOp.FETCH_AND: ("and_", True),
    AtomicOp.FETCH_XOR: ("xor", True),
}

_CLASS_HANDLERS = {
    Cls.ALU: Translator._alu,
    Cls.ALU64: Translator._alu,
    Cls.JMP: Translator._jump,
    Cls.JMP32: Translator._jump,
    Cls.LD: Translator._ld,
    Cls.LDX: Translator._ldx,
    Cls.ST: Translator._store,
    Cls.STX: Translator._store,
}
