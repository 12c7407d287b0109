"""How much of each stack frame a program can touch: the bytes the jit zeroes per frame.

The interpreter zeroes a frame's whole 512 bytes when the frame starts (VmEngine's
entry and _push_frame), so a read of a slot nothing wrote gives 0.  Bytes no run can
reach need no zeroing: `zeroed_bytes` bounds, from the instructions alone, the lowest
stack offset any access can reach, and the jit zeroes only the frame's top that many
bytes (a program using 40 bytes of stack pays for clearing 40, not 512, per packet).

A forward dataflow over every function (the units' entries, BPF-to-BPF callees and
callbacks, each with a fresh frame: r10 = fp + 0) follows which registers hold
"fp + k" and the least k on any path.  One bound serves every frame, so a pointer into
the caller's frame is followed into a callee or callback like one into its own: the
arguments a call passes join the callee's entry state (a callback's, every callback's).
A memory access through such a register at offset `off` reaches k + off; a helper or
kfunc given one reaches upwards from it (helpers access [ptr, ptr + size)), and a
pointer it returns may point into what it was given (a dynptr's data), so its r0 is
"given + k" (a helper returning a scalar, platform/helpers.py's Ret, gives a scalar).
Whenever a stack pointer escapes where this cannot follow it -- stored to memory,
combined with anything but a constant, returned from a function, live across a tail
call -- the answer is the whole frame, as when the walk runs too long.  Programs the
kernel verifier accepts keep their stack pointers this simple; anything else is zeroed
whole, which is always correct.
"""

from __future__ import annotations

from bisect import bisect_right

from ...ebpf.insn import Instruction
from ...ebpf.opcodes import Alu, AtomicOp, Cls, Mode, PseudoSrc
from ...elf.model import RelocKind
from ...platform.helpers import HELPER_ID, XDP_HELPERS, Ret

FP, GIVEN = 0, 1  # what a tracked register is relative to: the frame pointer, or the least pointer given to a helper
TAIL_CALL = HELPER_ID["tail_call"]  # the target program runs on with every register (VmEngine.tail_call)
# what a helper's r0 may point into: only bpf_dynptr_data's result is memory the program gave
# it (a dynptr over a stack buffer); the others return scalars or memory of their own (maps, ...)
GIVES_BACK = frozenset({Ret.DYNPTR_MEM_OR_NULL})
REPLACING = frozenset({Alu.MOV, Alu.MOVSX8, Alu.MOVSX16, Alu.MOVSX32})  # results that ignore dst
WORK_PER_INSN = 64  # instructions visited per program instruction before the walk gives up


class _Escapes(Exception):
    """A stack pointer went where the walk cannot follow it: zero the whole frame."""


def _callbacks(insns: list[Instruction]) -> set[int]:
    """Slots a function whose address the program takes starts at (translate._join_points)."""
    found = set()
    for insn in insns:
        if insn.is_ld_imm64 and insn.src == PseudoSrc.FUNC:
            found.add(insn.pc + 1 + insn.imm)
        elif insn.is_ld_imm64 and insn.reloc is not None and insn.reloc.kind is RelocKind.FUNC:
            found.add(insn.reloc.offset)
    return found


def _fresh_frame() -> list:
    return [None] * 10 + [(FP, 0)]


class _Walk:
    def __init__(self, stack_size: int):
        self.stack_size = stack_size
        self.calls: list[tuple[tuple[int, ...], list]] = []  # (entries, the arguments) of each call met
        self.exits: list = []  # r0 at each exit met
        self.returns: dict[int, tuple[int, int] | None] = {}  # function entry -> r0 at its exits, merged
        self.callbacks: tuple[int, ...] = ()
        self.lowest = 0  # least fp offset an access reaches
        self.given = 0  # least fp offset given to a helper (GIVEN's base)
        self.lowest_given = 0  # least offset from GIVEN an access reaches

    def clamp(self, k: int) -> int:
        return max(k, -self.stack_size - 1)  # below the frame: everything is reachable

    def reach(self, value, off: int) -> None:
        if value is None:
            return
        base, k = value
        if base == FP:
            self.lowest = min(self.lowest, self.clamp(k + off))
        else:
            self.lowest_given = min(self.lowest_given, self.clamp(k + off))

    def give(self, value) -> None:
        """A tracked pointer handed to a helper: it reaches upwards from it."""
        if value is None:
            return
        base, k = value
        if base == GIVEN:
            if k < 0:  # below the least given pointer: the bound would chase itself
                raise _Escapes
            return
        self.given = min(self.given, self.clamp(k))

    def step(self, insn: Instruction, regs: list) -> list | None:
        """The registers after `insn` (None: it does not continue, e.g. exit or an invalid insn)."""
        cls = insn.cls
        if insn.dst > 10 or insn.src > 10:
            return None  # an invalid register: the instruction faults
        if cls in (Cls.ALU, Cls.ALU64):
            return self._alu(insn, regs)
        if cls == Cls.LD:
            if insn.is_ld_imm64:
                regs[insn.dst] = None
                return regs
            return None  # legacy packet loads fault on XDP
        if cls == Cls.LDX:
            self.reach(regs[insn.src], insn.off)
            regs[insn.dst] = None
            return regs
        if cls in (Cls.ST, Cls.STX):
            self.reach(regs[insn.dst], insn.off)
            if cls == Cls.STX and regs[insn.src] is not None:
                raise _Escapes  # a stack pointer stored to memory
            if insn.mode == Mode.ATOMIC and cls == Cls.STX:
                if insn.imm == AtomicOp.CMPXCHG:
                    regs[0] = None
                elif insn.imm & AtomicOp.FETCH or insn.imm == AtomicOp.XCHG:
                    regs[insn.src] = None
            return regs
        return self._jump(insn, regs)

    def _alu(self, insn: Instruction, regs: list) -> list:
        variant = insn.alu
        dst = regs[insn.dst]
        src = regs[insn.src] if insn.uses_reg_src else None
        wide = insn.cls == Cls.ALU64
        if variant is Alu.MOV and wide:
            regs[insn.dst] = src
            return regs
        if variant in REPLACING and src is None:
            regs[insn.dst] = None  # a scalar replaces whatever was there
            return regs
        if dst is None and src is None:
            return regs  # scalars (or pointers that are not the stack's)
        if wide and variant in (Alu.ADD, Alu.SUB) and dst is not None and not insn.uses_reg_src:
            base, k = dst
            regs[insn.dst] = (base, self.clamp(k + insn.imm if variant is Alu.ADD else k - insn.imm))
            return regs
        raise _Escapes  # a stack pointer combined with a run-time value, cut to 32 bits, ...

    def _jump(self, insn: Instruction, regs: list) -> list | None:
        if insn.is_exit:
            if regs[0] is not None and regs[0][0] == FP:
                raise _Escapes  # a stack pointer returned to the caller (a helper's is "given" there too)
            self.exits.append(regs[0])
            return None
        if not insn.is_call:
            return regs
        args = regs[1:6]
        if insn.is_local_call:
            self.calls.append(((insn.target,), args))
            regs[0:6] = [self.returns.get(insn.target)] + [None] * 5  # what its exits return, so far
            return regs
        helper = XDP_HELPERS.get(insn.imm) if insn.is_helper_call else None
        if insn.uses_reg_src or (helper is not None and helper.callback is not None):
            self.calls.append((self.callbacks, args))  # callx: the runtime's helper may be any
        if insn.is_helper_call and insn.imm == TAIL_CALL and any(r is not None for r in regs[:10]):
            raise _Escapes  # the target program runs on with these registers
        for arg in args:
            self.give(arg)
        own = helper is not None and helper.ret not in GIVES_BACK  # kfuncs and the unknown: at worst
        regs[0:6] = [None if own else (GIVEN, 0)] + [None] * 5
        return regs


def _merge(old: list, new: list) -> list | None:
    """The registers at a join (None: `old` already covers `new`)."""
    merged = []
    for a, b in zip(old, new):
        if a is None or b is None:
            merged.append(a if b is None else b)
        elif a[0] != b[0]:
            raise _Escapes  # fp-relative on one path, helper-given on another
        else:
            merged.append(a if a[1] <= b[1] else b)
    return None if merged == old else merged


def zeroed_bytes(units_insns: list[list[Instruction]], stack_size: int) -> int:
    """Bytes at the top of each frame that any run of these programs can touch (0 ..
    stack_size): the jit zeroes these and only these when a frame starts."""
    walk = _Walk(stack_size)
    try:
        for insns in units_insns:
            _walk_unit(walk, insns)
    except _Escapes:
        return stack_size
    lowest = min(walk.lowest, walk.given + walk.lowest_given)
    return min(stack_size, -lowest)


def _walk_unit(walk: _Walk, insns: list[Instruction]) -> None:
    by_pc = {insn.pc: insn for insn in insns}
    walk.callbacks = tuple(_callbacks(insns))
    functions = sorted({insns[0].pc, *walk.callbacks, *(i.target for i in insns if i.is_local_call)}) if insns else []
    callers: dict[int, set[int]] = {}  # function entry -> pcs of the calls to it
    state: dict[int, list] = {}
    work: list[int] = []

    def arrive(pc: int, regs: list) -> None:
        if pc not in by_pc:
            return  # past the end or an invalid target: the jump faults
        merged = regs if pc not in state else _merge(state[pc], regs)
        if merged is not None:
            state[pc] = merged
            work.append(pc)

    for entry in (insns[0].pc, *walk.callbacks) if insns else ():
        arrive(entry, _fresh_frame())
    budget = WORK_PER_INSN * max(1, len(insns))
    while work:
        budget -= 1
        if budget < 0:
            raise _Escapes
        pc = work.pop()
        insn = by_pc[pc]
        after = walk.step(insn, list(state[pc]))
        while walk.calls:  # a callee starts with a fresh frame and the arguments it was given
            entries, args = walk.calls.pop()
            for entry in entries:
                arrive(entry, [None, *args, None, None, None, None, (FP, 0)])
            if insn.is_local_call:
                callers.setdefault(insn.target, set()).add(pc)
        while walk.exits:  # a function's return value changed: its calls continue with it
            returned = walk.exits.pop()
            function = functions[bisect_right(functions, pc) - 1]  # subprograms are contiguous
            old = walk.returns.get(function)
            new = returned if old is None else (_merge([old], [returned]) or [old])[0]
            if new != old:
                walk.returns[function] = new
                work.extend(callers.get(function, ()))
        if after is not None:
            for nxt in insn.successors:
                arrive(nxt, after)
