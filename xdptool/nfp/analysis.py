"""What the lowering must know about each eBPF register, per instruction.

A small forward dataflow analysis over a flattened program (flatten.py): per
register, what it points to (ctx, packet (CTM), stack at a constant offset,
map, map value (EMEM)) or that it is a scalar, whether it is the same constant
on every path, and whether its upper 32 bits are known zero (every pointer on
the card is 32-bit, see image.py).  8-byte stack slots keep what was spilled
into them.  This is deliberately conservative and path-insensitive: the
verifier (xdptool.verifier, profile nfp) decides whether a program is safe;
this only decides how to lower it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..ebpf.insn import Instruction
from ..ebpf.opcodes import AluOp, AtomicOp, Cls, JmpOp, Mode
from ..ebpf.semantics import ALU32, ALU64
from ..elf.model import RelocKind
from ..platform import ctx

M32, M64 = 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF
POINTERS = {"ctx", "pkt", "stack", "map", "emem"}


MAX_OFFSETS = 16


@dataclass(frozen=True)
class Val:
    kind: str = "unknown"  # scalar, ctx, pkt, stack, map, emem, unknown (mixed), uninit (bottom)
    const: int | None = None  # scalar: the value (64-bit)
    hi_zero: bool = False
    map: str | None = None
    offsets: frozenset | None = None  # stack: the fp offsets it may hold (None: any)

    @property
    def offset(self) -> int | None:
        """A stack pointer's offset from the main fp when it is the same on every path."""
        return next(iter(self.offsets)) if self.offsets is not None and len(self.offsets) == 1 else None

    @property
    def mod4(self) -> int | None:
        """offset % 4 when every possible offset agrees (what a variable LM access needs)."""
        if not self.offsets:
            return None
        values = {o % 4 for o in self.offsets}
        return values.pop() if len(values) == 1 else None

    def join(self, other: "Val") -> "Val":
        if self == other or other.kind == "uninit":
            return self
        if self.kind == "uninit":
            return other
        for a, b in ((self, other), (other, self)):  # NULL joins a nullable pointer
            if a.kind in ("pkt", "emem") and b.kind == "scalar" and b.const == 0:
                return a
        if self.kind != other.kind:
            return Val("unknown", hi_zero=self.hi_zero and other.hi_zero)
        const = self.const if self.const == other.const else None
        mapname = self.map if self.map == other.map else None
        offsets = None
        if self.offsets is not None and other.offsets is not None:
            offsets = self.offsets | other.offsets
            offsets = offsets if len(offsets) <= MAX_OFFSETS else None
        return Val(self.kind, const, self.hi_zero and other.hi_zero, mapname, offsets)


UNKNOWN = Val()
UNINIT = Val("uninit")


def scalar(value: int | None = None, hi_zero: bool = False) -> Val:
    if value is not None:
        value &= M64
        return Val("scalar", value, value >> 32 == 0)
    return Val("scalar", None, hi_zero)


def pointer(kind: str, **kw) -> Val:
    return Val(kind, hi_zero=True, **kw)


@dataclass(frozen=True)
class State:
    regs: tuple[Val, ...]
    stack: tuple[tuple[int, Val], ...] = ()  # (fp offset of an 8-byte slot, value spilled there)

    def reg(self, n: int) -> Val:
        return self.regs[n] if n < len(self.regs) else UNINIT

    def with_reg(self, n: int, val: Val) -> "State":
        regs = list(self.regs) + [UNINIT] * (n + 1 - len(self.regs))
        regs[n] = val
        return replace(self, regs=tuple(regs))

    def slot(self, offset: int) -> Val | None:
        return dict(self.stack).get(offset)

    def with_slot(self, offset: int, val: Val | None, size: int = 8, weak: bool = False) -> "State":
        """Record a store; a weak one (one of several places) joins with what was there."""
        slots = dict(self.stack)
        old = slots.get(offset)
        for o in [o for o in slots if o < offset + size and offset < o + 8]:
            del slots[o]
        if val is not None and (old is None or not weak):
            slots[offset] = val
        elif val is not None and old is not None and offset % 8 == 0:
            slots[offset] = old.join(val)
        return replace(self, stack=tuple(sorted(slots.items())))

    def join(self, other: "State") -> "State":
        n = max(len(self.regs), len(other.regs))
        regs = tuple(self.reg(i).join(other.reg(i)) for i in range(n))
        mine, theirs = dict(self.stack), dict(other.stack)
        merged = {o: (v.join(theirs[o]) if o in theirs else v) for o, v in mine.items()}
        merged.update({o: v for o, v in theirs.items() if o not in mine})  # a slot never written is bottom
        return State(regs, tuple(sorted(merged.items())))


def _alu(state: State, insn: Instruction) -> State:
    is64 = insn.cls == Cls.ALU64
    mask = M64 if is64 else M32
    dst = state.reg(insn.dst)
    if insn.op == AluOp.END:
        return state.with_reg(insn.dst, scalar(hi_zero=insn.imm <= 32))
    src = state.reg(insn.src) if insn.uses_reg_src else scalar(insn.imm & M64)
    op = insn.op
    if op == AluOp.MOV and is64 and not insn.off:
        return state.with_reg(insn.dst, src)
    if op == AluOp.NEG:
        if dst.kind == "scalar" and dst.const is not None:
            return state.with_reg(insn.dst, scalar(-dst.const & mask))
        return state.with_reg(insn.dst, scalar(hi_zero=not is64))
    if is64 and op in (AluOp.ADD, AluOp.SUB) and dst.kind in POINTERS - {"map"} and src.kind == "scalar":
        if dst.kind == "stack":
            offsets = None
            if src.const is not None and dst.offsets is not None:
                delta = src.const if src.const < 1 << 63 else src.const - (1 << 64)
                delta = delta if op == AluOp.ADD else -delta
                offsets = frozenset(o + delta for o in dst.offsets)
            return state.with_reg(insn.dst, pointer("stack", offsets=offsets))
        return state.with_reg(insn.dst, dst)
    if is64 and op == AluOp.ADD and src.kind in POINTERS - {"map", "stack"} and dst.kind == "scalar":
        return state.with_reg(insn.dst, src)
    concrete = (ALU64 if is64 else ALU32).get(insn.alu)  # ebpf/semantics.py: the ISA's meaning
    if dst.kind == "scalar" and src.kind == "scalar" and dst.const is not None and src.const is not None \
            and concrete is not None:
        return state.with_reg(insn.dst, scalar(concrete(dst.const & mask, src.const & mask)))
    if op == AluOp.MOV and not insn.off:  # mov32
        return state.with_reg(insn.dst, scalar(src.const & M32 if src.const is not None and src.kind == "scalar"
                                               else None, hi_zero=True))
    hi_zero = not is64
    if is64:
        if op == AluOp.AND:
            hi_zero = dst.hi_zero or src.hi_zero
        elif op in (AluOp.OR, AluOp.XOR, AluOp.DIV, AluOp.MOD):
            hi_zero = dst.hi_zero and src.hi_zero
        elif op == AluOp.RSH:
            hi_zero = dst.hi_zero or (src.const is not None and 32 <= (src.const & 63))
    return state.with_reg(insn.dst, scalar(hi_zero=hi_zero))


def _load(state: State, insn: Instruction) -> State:
    base = state.reg(insn.src)
    size = insn.size_bytes
    if base.kind == "ctx":
        field = ctx.BY_OFFSET.get(insn.off)
        return state.with_reg(insn.dst, pointer("pkt") if field is not None and field.is_pointer else scalar(hi_zero=True))
    if base.kind == "stack" and base.offsets is not None and size == 8:
        spilled = [state.slot(o + insn.off) for o in base.offsets]
        if all(v is not None for v in spilled):
            val = spilled[0]
            for v in spilled[1:]:
                val = val.join(v)
            return state.with_reg(insn.dst, val)
    return state.with_reg(insn.dst, scalar(hi_zero=size < 8 and insn.mode == Mode.MEM))


def _store(state: State, insn: Instruction) -> State:
    base = state.reg(insn.dst)
    if base.kind != "stack":
        return state
    if base.offsets is None:
        return State(state.regs, ())
    size = insn.size_bytes
    value = None
    if insn.cls == Cls.STX and size == 8 and not insn.is_atomic:
        value = state.reg(insn.src)
    elif insn.cls == Cls.ST and size == 8:
        value = scalar(insn.imm & M64)
    weak = len(base.offsets) > 1
    for o in base.offsets:
        state = state.with_slot(o + insn.off, value, size, weak)
    return state


HELPER_RESULTS = {1: pointer("emem"), 7: scalar(hi_zero=True)}


def transfer(state: State, insn: Instruction) -> State:
    cls = insn.cls
    if insn.is_ld_imm64:
        reloc = insn.reloc
        if reloc is not None and reloc.kind == RelocKind.MAP:
            return state.with_reg(insn.dst, Val("map", hi_zero=True, map=reloc.map))
        if reloc is not None:
            return state.with_reg(insn.dst, UNKNOWN)
        return state.with_reg(insn.dst, scalar(insn.imm64))
    if cls in (Cls.ALU, Cls.ALU64):
        return _alu(state, insn)
    if insn.is_load:
        return _load(state, insn)
    if insn.is_store:
        return _store(state, insn)
    if insn.is_atomic:
        if insn.imm & AtomicOp.FETCH:
            state = state.with_reg(insn.src if insn.imm != AtomicOp.CMPXCHG else 0, scalar(hi_zero=insn.size_bytes == 4))
        return _store(state, insn)
    if insn.is_call:
        result = HELPER_RESULTS.get(insn.imm, scalar()) if insn.is_helper_call else scalar()
        for r in range(1, 6):
            state = state.with_reg(r, UNINIT)
        return state.with_reg(0, result)
    return state


def successors(insns: list[Instruction], index: int) -> list[int]:
    insn = insns[index]
    if insn.is_exit:
        return []
    if insn.is_branch:
        target = insn.meta["target"]
        if insn.op == JmpOp.JA:
            return [target]
        return [index + 1, target]
    return [index + 1]


def analyze(insns: list[Instruction], entry: State) -> list[State | None]:
    """The state before each instruction (None where unreachable)."""
    states: list[State | None] = [None] * len(insns)
    states[0] = entry
    work = [0]
    while work:
        index = work.pop()
        after = transfer(states[index], insns[index])
        for nxt in successors(insns, index):
            old = states[nxt]
            new = after if old is None else old.join(after)
            if new != old:
                states[nxt] = new
                work.append(nxt)
    return states


def entry_state(frame: int = 0, args: bool = False) -> State:
    """r1 = ctx at program entry (or unknown arguments for a lone subprogram); r10 = fp."""
    regs = [UNINIT] * 11
    regs[1] = UNKNOWN if args else pointer("ctx")
    regs[10] = pointer("stack", offsets=frozenset([frame]))
    return State(tuple(regs))


def stack_accesses(insns: list[Instruction], states: list[State | None]):
    """(index, fp offset, size) of every access through a stack pointer with a known offset."""
    for index, insn in enumerate(insns):
        state = states[index]
        if state is None:
            continue
        if insn.is_load:
            base = state.reg(insn.src)
        elif insn.is_store or insn.is_atomic:
            base = state.reg(insn.dst)
        else:
            continue
        if base.kind == "stack" and base.offsets is not None:
            for offset in base.offsets:
                yield index, offset + insn.off, insn.size_bytes


def refine(state: State, facts, rename: dict[int, int]) -> State:
    """Strengthen a state with the verifier's facts at the same pc (never weaken it).

    The verifier is path-sensitive, so it knows more: a register that is the
    same constant, or whose upper half is zero, on every path it explored.
    `rename` maps the original register numbers to the flattened ones.
    """
    if facts is None:
        return state
    for reg, fact in facts.regs.items():
        if not isinstance(reg, int) or fact.types != {"scalar"}:
            continue
        n = rename.get(reg, reg)
        val = state.reg(n)
        if val.kind not in ("scalar", "unknown"):
            continue
        if fact.const is not None:
            state = state.with_reg(n, scalar(fact.const))
        elif fact.upper_zero and not val.hi_zero:
            state = state.with_reg(n, Val("scalar", val.const if val.kind == "scalar" else None, True))
    return state


__all__ = ["Val", "State", "analyze", "entry_state", "successors", "refine"]
