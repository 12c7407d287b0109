"""eBPF -> NFP instructions on virtual registers.

Each 64-bit eBPF register n is two virtual 32-bit values, `rn.lo` and `rn.hi`.
The facts of analysis.py pick cheaper forms: a register known constant is
read as an immediate (or folded away), a high half known zero is read as the
immediate 0, and 64-bit arithmetic whose result is known to fit 32 bits is
done on the low half only.  Every definition still writes its high half
(`immed[hi, 0]` at worst); dead-code elimination (liveness.py) drops the ones
nobody reads, which is how the high half disappears where it is never needed.

Idioms (the kernel's bpf/jit.c does the same things; the sequences are ours):
  64-bit add/sub: `+`/`-` on the low halves, `+carry`/`-carry` on the high ones;
  compares: `alu[--, a, -, b]` (+ `-carry` for 64-bit) then a branch on C or N/V
  (JGT/JLE swap the operands, as jit.c's jmp_code_map), equality by XOR (+OR);
  constants through `immed` (one or two instructions);
  shifts by a constant with the shifter, 64-bit ones with the funnel `>>dbl`;
  shifts by a register through the A-field source of the ALU instruction before
  (`alu[--, n, OR, 0]` with n in bank A, then `>>indirect`), 64-bit ones split on
  bit 5 of the amount;
  mul with mul_step 32x32 (operands must fit 32 bits); div only by a constant,
  by reciprocal multiplication (Granlund & Montgomery, PLDI 1994, fig. 4.1);
  be16/be32/be64 with two ld_field byte moves per word;
  packet and map-value access through `mem[read32_swap|write8_swap]` into transfer
  registers (CTM / EMEM), atomic add as `mem[add]` with 40-bit addressing (jit.c mem_xadd), the stack in LM (image.py), sub-word stack stores
  as read-modify-write with ld_field;
  helpers as firmware routines (firmware.py), exit through the `exit` routine.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ..ebpf.disasm import format_insn as format_ebpf
from ..ebpf.insn import Instruction
from ..ebpf.opcodes import AluOp, AtomicOp, Cls, JmpOp, Mode
from ..elf.model import Program, RelocKind
from ..errors import XdpError
from ..platform import nfp_driver as driver
from ..platform.helpers import HELPER_ID, NFP_HELPERS
from . import abi, analysis, firmware
from .analysis import M32, State
from .flatten import Flat
from ..platform import ctx
from .image import LM_CTX_BASE, LM_CTX_DATA, LM_CTX_DATA_END, LM_CTX_IFINDEX, LM_CTX_RXQ, LM_STACK_OFFSET, STACK_WINDOW
from .isa import NfpInsn, Shift, alu, branch, constant_insns, immed, mov, nop, shf
from .registers import NONE, RESTRICTED, RESTRICTED_I8, UNRESTRICTED, Gpr, Imm, Lm, Operand, VReg, Xfer


class Refused(XdpError):
    """The NFP cannot run this program; `message` is the driver's reason, `insn` where."""

    exit_code = 1

    def __init__(self, message: str, insn: Instruction | None = None):
        self.message = message
        self.insn = insn
        self.pc = insn.meta.get("origin", insn.pc) if insn is not None else None
        self.line = insn.line if insn is not None else None
        where = f"insn {self.pc}: " if self.pc is not None else ""
        source = f" ({self.line}: {self.line.source.strip()})" if self.line is not None and self.line.source else ""
        super().__init__(f"{where}{message}{source}")


# ctx field offset -> LM context word (xdp_md, uapi/linux/bpf.h)
CTX_WORDS = {ctx.BY_NAME[name].offset: word for name, word in (
    ("data", LM_CTX_DATA), ("data_end", LM_CTX_DATA_END), ("ingress_ifindex", LM_CTX_IFINDEX), ("rx_queue_index", LM_CTX_RXQ))}
# eBPF conditional jump -> (NFP condition, swap operands); bpf/jit.c jmp_code_map
ORDERED = {
    JmpOp.JGT: ("blo", True), JmpOp.JGE: ("bhs", False), JmpOp.JLT: ("blo", False), JmpOp.JLE: ("bhs", True),
    JmpOp.JSGT: ("blt", True), JmpOp.JSGE: ("bge", False), JmpOp.JSLT: ("blt", False), JmpOp.JSLE: ("bge", True),
}
UNSIGNED_OF = {JmpOp.JSGT: JmpOp.JGT, JmpOp.JSGE: JmpOp.JGE, JmpOp.JSLT: JmpOp.JLT, JmpOp.JSLE: JmpOp.JLE}
SIG = 1  # the signal every memory command waits on (ctx_swap: the thread sleeps until it)


@dataclass
class Lowered:
    insns: list[NfpInsn]
    labels: dict[str, int]
    stack_bytes: int
    maps: list[str]
    warnings: list = field(default_factory=list)  # Refused: what the card refuses but nfp-emu runs


class Lowering:
    def __init__(self, program: Program, flat: Flat, maps: list[str], facts: dict | None = None):
        self.facts = facts or {}
        self.program = program
        self.flat = flat
        self.maps = maps
        self.out: list[NfpInsn] = []
        self.labels: dict[str, int] = {}
        self.ids = itertools.count()
        self.named: dict[tuple[int, str], VReg] = {}
        self.labels_needed: set[int] = {i.meta["target"] for i in flat.insns if i.is_branch}
        self.ret_count = itertools.count()
        self.current: Instruction | None = None
        self.first_of_insn = False
        self.ptr1_base = LM_STACK_OFFSET + flat.stack_bytes - STACK_WINDOW
        self.warnings: list[Refused] = []

    # -- emitting ------------------------------------------------------------------------------
    def emit(self, insn: NfpInsn) -> NfpInsn:
        cur = self.current
        if cur is not None:
            insn.ebpf_pc = cur.meta.get("origin", cur.pc)
            insn.meta["line"] = cur.line
            if self.first_of_insn:
                insn.note = f"{insn.ebpf_pc}: {format_ebpf(cur)}"
                self.first_of_insn = False
        self.out.append(insn)
        return insn

    def emit_all(self, insns: list[NfpInsn]) -> None:
        for insn in insns:
            self.emit(insn)

    def label(self, name: str) -> None:
        self.labels[name] = len(self.out)

    def tmp(self) -> VReg:
        return VReg(next(self.ids))

    def reg(self, n: int, half: str) -> VReg:
        key = (n, half)
        if key not in self.named:
            self.named[key] = VReg(next(self.ids), f"r{n}{half}")
        return self.named[key]

    def refuse(self, message: str) -> None:
        raise Refused(message, self.current)

    def card_refuses(self, message: str) -> None:
        """The driver refuses this, but the emulator can run it: a warning, not a refusal."""
        self.warnings.append(Refused(message, self.current))

    # -- operands -------------------------------------------------------------------------------
    def const(self, value: int, limit: int = UNRESTRICTED.imm) -> Operand:
        value &= M32
        if value <= limit:
            return Imm(value)
        t = self.tmp()
        self.emit_all(constant_insns(t, value))
        return t

    def in_reg(self, op: Operand) -> Operand:
        """A register holding op (materialises immediates)."""
        if isinstance(op, Imm):
            t = self.tmp()
            self.emit_all(constant_insns(t, op.value))
            return t
        return op

    def lo(self, n: int, state: State) -> Operand:
        v = state.reg(n)
        if v.kind == "scalar" and v.const is not None:
            return self.const(v.const & M32)
        if v.kind == "stack" and v.offset is not None:  # its LM byte address, made when needed
            t = self.tmp()
            self.emit(alu(t, Lm(0, LM_CTX_BASE), "+", self.const(self.stack_address(v.offset))))
            return t
        if v.kind in ("ctx", "map"):
            return Imm(0)  # never data: the lowering follows these statically
        return self.reg(n, "lo")

    def hi(self, n: int, state: State) -> Operand:
        v = state.reg(n)
        if v.hi_zero:
            return Imm(0)
        if v.kind == "scalar" and v.const is not None:
            return self.const(v.const >> 32)
        return self.reg(n, "hi")

    def operand_b(self, insn: Instruction, state: State, is64: bool) -> tuple[Operand, Operand]:
        """The second operand's (lo, hi): a register, or the sign-extended immediate."""
        if insn.uses_reg_src:
            return self.lo(insn.src, state), (self.hi(insn.src, state) if is64 else Imm(0))
        value = insn.imm & 0xFFFFFFFFFFFFFFFF if is64 else insn.imm & M32
        return self.const(value & M32), (self.const(value >> 32) if is64 else Imm(0))

    def pair(self, a: Operand, b: Operand, restricted: bool = False) -> tuple[Operand, Operand]:
        """Make two sources legal together: not both immediates, not the same register, in range."""
        if restricted:
            a, b = self.restricted(a), self.restricted(b)
        if a is not NONE and b is not NONE and a.cls == b.cls and a.cls != "vreg":
            a = self.in_reg(a) if isinstance(a, Imm) else self.copy(a)
        elif isinstance(a, VReg) and a == b:
            b = self.copy(b)
        return a, b

    def restricted(self, op: Operand, limit: int = RESTRICTED.imm) -> Operand:
        if isinstance(op, Imm) and op.value > limit:
            return self.in_reg(op)
        if isinstance(op, Lm) and op.offset > RESTRICTED.lm:
            return self.copy(op)
        return op

    def copy(self, op: Operand) -> VReg:
        t = self.tmp()
        self.emit(mov(t, op))
        return t

    def set_lo(self, n: int, src: Operand) -> None:
        self.move(self.reg(n, "lo"), src)

    def set_hi(self, n: int, src: Operand) -> None:
        self.move(self.reg(n, "hi"), src)

    def move(self, dst: Operand, src: Operand) -> None:
        if isinstance(src, Imm):
            self.emit_all(constant_insns(dst, src.value))
        elif src != dst:
            self.emit(mov(dst, src))

    def set_const(self, n: int, value: int) -> None:
        self.emit_all(constant_insns(self.reg(n, "lo"), value & M32))
        self.emit_all(constant_insns(self.reg(n, "hi"), value >> 32 & M32))

    # -- the walk -------------------------------------------------------------------------------
    def lower(self) -> Lowered:
        insns = self.flat.insns
        for insn in insns:  # the driver checks helpers first (bpf/verifier.c): say it the same way
            if insn.is_helper_call and insn.imm not in NFP_HELPERS:
                self.current = insn
                self.refuse(driver.unsupported_helper(insn.imm))
        states = analysis.analyze(insns, analysis.entry_state())
        if self.facts:
            states = [None if st is None else analysis.refine(st, self.facts.get(i.meta.get("origin", i.pc)),
                                                                i.meta.get("rename", {}))
                      for i, st in zip(insns, states)]
        self.states = states
        for index, insn in enumerate(insns):
            if index in self.labels_needed:
                self.label(f"L{index}")
            state = states[index]
            if state is None:
                continue  # unreachable
            self.current, self.first_of_insn, self.index = insn, True, index
            start = len(self.out)
            self.lower_one(index, insn, state)
            if len(self.out) == start:  # keep a trace of the eBPF instruction in the listing
                self.first_of_insn = False
        self.current = None
        if not self.out or not self.out[-1].is_unconditional:
            self.emit(branch("br", "fw.exit"))  # never reached: the verifier proved every path exits
        return Lowered(self.out, self.labels, self.flat.stack_bytes, self.maps, self.warnings)

    def lower_one(self, index: int, insn: Instruction, state: State) -> None:
        cls = insn.cls
        if insn.is_ld_imm64:
            return self.lower_ld_imm64(insn)
        if cls in (Cls.ALU, Cls.ALU64):
            return self.lower_alu(insn, state)
        if insn.is_exit:
            return self.lower_exit(state)
        if insn.is_call:
            return self.lower_call(insn, state)
        if insn.is_branch:
            return self.lower_jump(insn, state)
        if insn.is_load:
            return self.lower_load(insn, state)
        if insn.is_store:
            return self.lower_store(insn, state)
        if insn.is_atomic:
            return self.lower_atomic(insn, state)
        self.refuse(f"instruction {insn.code:#04x} not supported")

    # -- ld_imm64 -------------------------------------------------------------------------------------
    def lower_ld_imm64(self, insn: Instruction) -> None:
        reloc = insn.reloc
        if reloc is None:
            return self.set_const(insn.dst, insn.imm64)
        if reloc.kind == RelocKind.MAP:
            return None  # a map pointer is only an argument: the call site names the map
        if reloc.kind == RelocKind.FUNC:
            self.refuse("function pointers (callbacks) not supported")
        self.refuse("global data (map values by address) not supported")

    # -- ALU -------------------------------------------------------------------------------------------
    def lower_alu(self, insn: Instruction, state: State) -> None:
        is64 = insn.cls == Cls.ALU64
        op = insn.op
        d = insn.dst
        if op == AluOp.MOD or insn.is_signed_divmod or insn.is_movsx or (op == AluOp.END and (is64 or not insn.uses_reg_src)):
            self.refuse(f"instruction {insn.code:#04x} not supported")
        after = self.after(insn, state, d)
        if after.kind == "scalar" and after.const is not None:
            return self.set_const(d, after.const)
        if after.kind in ("map", "ctx"):
            return None  # followed statically, never data
        if op == AluOp.END:
            return self.lower_bswap(insn, state)
        if op == AluOp.MOV:
            b_lo, b_hi = self.operand_b(insn, state, is64)
            self.set_lo(d, b_lo)
            self.set_hi(d, b_hi if is64 and not after.hi_zero else Imm(0))
            return None
        a_lo, a_hi = self.lo(d, state), (self.hi(d, state) if is64 else Imm(0))
        wide = is64 and not after.hi_zero
        if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
            return self.lower_shift(insn, state, a_lo, a_hi, is64)
        if op == AluOp.MUL:
            return self.lower_mul(insn, state, a_lo, is64)
        if op == AluOp.DIV:
            return self.lower_div(insn, state, a_lo, is64)
        if op == AluOp.NEG:
            b_lo, b_hi = a_lo, a_hi
            a_lo, a_hi = Imm(0), Imm(0)
            op = AluOp.SUB
        else:
            b_lo, b_hi = self.operand_b(insn, state, is64)
        table = {AluOp.ADD: ("+", "+carry"), AluOp.SUB: ("-", "-carry"), AluOp.AND: ("AND", "AND"),
                 AluOp.OR: ("OR", "OR"), AluOp.XOR: ("XOR", "XOR")}
        if op not in table:
            self.refuse(f"instruction {insn.code:#04x} not supported")
        op_lo, op_hi = table[op]
        a_lo, b_lo = self.pair(a_lo, b_lo)
        if wide:
            a_hi, b_hi = self.pair(a_hi, b_hi)
        self.emit(alu(self.reg(d, "lo"), a_lo, op_lo, b_lo))
        if wide:
            self.emit(alu(self.reg(d, "hi"), a_hi, op_hi, b_hi))
        else:
            self.set_hi(d, Imm(0))
        return None

    def after(self, insn: Instruction, state: State, d: int) -> analysis.Val:
        """What `d` holds after `insn`: our transfer, strengthened by the (refined) state of
        the instruction it falls through to, which every value it writes reaches."""
        val = analysis.transfer(state, insn).reg(d)
        index = self.index
        if index + 1 < len(self.states) and self.states[index + 1] is not None:
            following = self.flat.insns[index + 1]
            if following.meta.get("origin") == insn.meta.get("origin", insn.pc) + insn.slots \
                    and following.meta.get("rename") is insn.meta.get("rename"):
                nxt = self.states[index + 1].reg(d)
                if val.kind in ("scalar", "unknown") and nxt.kind == "scalar":
                    if nxt.const is not None:
                        return nxt
                    if nxt.hi_zero and not val.hi_zero:
                        return analysis.Val("scalar", None, True)
        return val

    def lower_bswap(self, insn: Instruction, state: State) -> None:
        d = insn.dst

        def swap32(src: Operand) -> VReg:
            src = self.in_reg(src)
            t = self.tmp()
            self.emit(NfpInsn("ld_field", dst=t, b=src, value=0b1010, width="w_clr", shift=Shift(">>rot", 8)))
            self.emit(NfpInsn("ld_field", dst=t, b=src, value=0b0101, shift=Shift(">>rot", 24)))
            return t

        a_lo = self.lo(d, state)
        if insn.imm == 16:
            src = self.in_reg(a_lo)
            t = self.tmp()
            self.emit(NfpInsn("ld_field", dst=t, b=src, value=0b0001, width="w_clr", shift=Shift(">>", 8)))
            self.emit(NfpInsn("ld_field", dst=t, b=src, value=0b0010, shift=Shift("<<", 8)))
            self.set_lo(d, t)
            self.set_hi(d, Imm(0))
        elif insn.imm == 32:
            self.set_lo(d, swap32(a_lo))
            self.set_hi(d, Imm(0))
        elif insn.imm == 64:
            new_lo, new_hi = swap32(self.hi(d, state)), swap32(a_lo)
            self.set_lo(d, new_lo)
            self.set_hi(d, new_hi)
        else:
            self.refuse(f"instruction {insn.code:#04x} not supported")

    # -- shifts ----------------------------------------------------------------------------------------
    def lower_shift(self, insn: Instruction, state: State, a_lo: Operand, a_hi: Operand, is64: bool) -> None:
        d, op = insn.dst, insn.op
        lo_d, hi_d = self.reg(d, "lo"), self.reg(d, "hi")
        a_lo = self.restricted(a_lo, RESTRICTED_I8.imm)
        a_hi = self.restricted(a_hi, RESTRICTED_I8.imm)
        amount = state.reg(insn.src) if insn.uses_reg_src else analysis.scalar(insn.imm)
        if amount.kind == "scalar" and amount.const is not None:
            k = amount.const & (63 if is64 else 31)
            return self.shift_const(op, k, a_lo, a_hi, lo_d, hi_d, is64)
        n = self.copy(self.lo(insn.src, state))
        if not is64:
            self.shift_indirect(op, n, a_lo, lo_d)
            self.set_hi(d, Imm(0))
            return None
        return self.shift64_indirect(op, n, self.in_reg(a_lo), self.in_reg(a_hi), lo_d, hi_d)

    def asr(self, dst: Operand, src: Operand, k: int) -> None:
        # the fill bit comes from the previous ALU result (bpf/jit.c: "set signedness bit")
        self.emit(mov(NONE, src))
        self.emit(shf(dst, NONE, "ASR", src, Shift(">>", k)))

    @staticmethod
    def halves(op, a_lo: Operand, a_hi: Operand, lo_d: Operand, hi_d: Operand) -> tuple:
        """((source, destination) of the half bits leave, (source, destination) of the half
        they enter): a left shift moves bits from lo into hi, a right shift from hi into lo."""
        if op == AluOp.LSH:
            return (a_lo, lo_d), (a_hi, hi_d)
        return (a_hi, hi_d), (a_lo, lo_d)

    def vacate(self, op, dst: Operand, src: Operand) -> None:
        """The half a shift by 32 or more empties: zero, or (ARSH) the sign of `src`."""
        if op == AluOp.ARSH:
            self.asr(dst, src, 31)
        else:
            self.move(dst, Imm(0))

    def shift_word(self, op, dst: Operand, src: Operand, k: int) -> None:
        """One 32-bit word shifted by a constant 0..31."""
        if k == 0:
            self.move(dst, src)
        elif op == AluOp.ARSH:
            self.asr(dst, src, k)
        else:
            self.emit(shf(dst, NONE, "B", src, Shift("<<" if op == AluOp.LSH else ">>", k)))

    def shift_const(self, op, k, a_lo, a_hi, lo_d, hi_d, is64) -> None:
        if not is64:
            self.shift_word(op, lo_d, a_lo, k)
            self.move(hi_d, Imm(0))
            return
        (from_src, from_d), (_, to_d) = self.halves(op, a_lo, a_hi, lo_d, hi_d)
        if k == 0:
            self.move(lo_d, a_lo)
            self.move(hi_d, a_hi)
        elif k < 32:
            hi_src, lo_src = self.pair(a_hi, a_lo, restricted=True)
            self.emit(shf(to_d, hi_src, "B", lo_src, Shift(">>dbl", 32 - k if op == AluOp.LSH else k)))
            self.shift_word(op, from_d, from_src, k)
        else:
            self.shift_word(op, to_d, from_src, k - 32)
            self.vacate(op, from_d, from_src)

    def set_amount(self, t: VReg) -> None:
        """`t` as the A-field source of an ALU instruction: the next indirect shift's amount (its low
        5 bits) and, as the result, the ASR fill bit (bit 31).  regalloc keeps `t` in bank A."""
        self.emit(NfpInsn("alu", dst=NONE, a=t, op="OR", b=Imm(0), meta={"a_bank": "A"}))

    def sign_and_amount(self, value: Operand, n: Operand) -> None:
        """value's sign bit | (n & 31): what an indirect ASR needs from the instruction before it."""
        sign, amount, both = self.tmp(), self.tmp(), self.tmp()
        self.emit(shf(sign, NONE, "B", value, Shift(">>", 31)))
        self.emit(shf(sign, NONE, "B", sign, Shift("<<", 31)))
        self.emit(alu(amount, n, "AND", Imm(31)))
        self.emit(alu(both, sign, "OR", amount))
        self.set_amount(both)

    def shift_indirect(self, op, n: Operand, src: Operand, dst: Operand) -> None:
        if op == AluOp.ARSH:
            self.sign_and_amount(src, n)
            self.emit(shf(dst, NONE, "ASR", src, Shift(">>", None)))
            return
        self.set_amount(self.copy(n))
        self.emit(shf(dst, NONE, "B", src, Shift("<<" if op == AluOp.LSH else ">>", None)))

    def shift64_indirect(self, op, n: VReg, a_lo: Operand, a_hi: Operand, lo_d: VReg, hi_d: VReg) -> None:
        big, done = self.fresh_label("big"), self.fresh_label("done")
        self.emit(NfpInsn("br_bit", op="br_bset", a=n, value=5, target=big))
        (from_src, from_d), (to_src, to_d) = self.halves(op, a_lo, a_hi, lo_d, hi_d)
        # n < 32, left:  hi = hi << n | (lo >> 1) >> (31 - n); lo <<= n
        #         right: lo = lo >> n | (hi << 1) << (31 - n); hi >>= n (ASR for ARSH)
        back, logical = (">>", AluOp.LSH) if op == AluOp.LSH else ("<<", AluOp.RSH)
        far, rest = self.tmp(), self.tmp()
        self.emit(shf(far, NONE, "B", from_src, Shift(back, 1)))
        self.emit(alu(rest, Imm(31), "-", n))
        self.set_amount(rest)
        self.emit(shf(far, NONE, "B", far, Shift(back, None)))
        near = self.tmp()
        self.shift_indirect(logical, n, to_src, near)
        self.emit(alu(to_d, near, "OR", far))
        self.shift_indirect(op, n, from_src, from_d)
        self.emit(branch("br", done))
        self.label(big)
        self.shift_indirect(op, n, from_src, to_d)
        self.vacate(op, from_d, from_src)
        self.label(done)

    def fresh_label(self, what: str) -> str:
        return f".{what}{next(self.ret_count)}"

    # -- mul / div ------------------------------------------------------------------------------------------
    def multiply(self, a: Operand, b: Operand, lo: Operand | None, hi: Operand | None) -> None:
        a, b = self.pair(a, b)
        self.emit(NfpInsn("mul_step", a=a, b=b, op="start"))
        for step in range(1, 5):
            self.emit(NfpInsn("mul_step", a=a, b=b, op=f"32x32_step{step}"))
        self.emit(NfpInsn("mul_step", dst=lo if lo is not None else NONE, op="32x32_last"))
        if hi is not None:
            self.emit(NfpInsn("mul_step", dst=hi, op="32x32_last2"))

    def lower_mul(self, insn: Instruction, state: State, a_lo: Operand, is64: bool) -> None:
        d = insn.dst
        b_lo, b_hi = self.operand_b(insn, state, is64)
        if is64 and not (state.reg(d).hi_zero and (b_hi == Imm(0))):
            self.refuse("multiplier is not within u32 value range")
        self.multiply(a_lo, b_lo, self.reg(d, "lo"), self.reg(d, "hi") if is64 else None)
        if not is64:
            self.set_hi(d, Imm(0))

    def lower_div(self, insn: Instruction, state: State, n: Operand, is64: bool) -> None:
        d = insn.dst
        if insn.uses_reg_src:
            divisor = state.reg(insn.src)
            if divisor.kind != "scalar" or divisor.const is None:
                self.refuse("divisor is not constant")
            value = divisor.const
        else:
            value = insn.imm & (0xFFFFFFFFFFFFFFFF if is64 else M32)
        value &= 0xFFFFFFFFFFFFFFFF if is64 else M32
        if value > M32:
            self.refuse("divisor is not within u32 value range")
        if is64 and not state.reg(d).hi_zero:
            self.refuse("dividend is not within u32 value range")
        lo_d = self.reg(d, "lo")
        if value == 0:
            self.move(lo_d, Imm(0))
        elif value & (value - 1) == 0:
            k = value.bit_length() - 1
            if k:
                self.emit(shf(lo_d, NONE, "B", self.restricted(n, RESTRICTED_I8.imm), Shift(">>", k)))
            else:
                self.move(lo_d, n)
        else:
            # Granlund & Montgomery: l = ceil(log2 d), m = floor(2^32 (2^l - d) / d) + 1,
            # t = mulhi(m, n), q = (t + ((n - t) >> 1)) >> (l - 1)
            l = (value - 1).bit_length()
            m = ((1 << 32) * ((1 << l) - value)) // value + 1
            n = self.in_reg(n)
            t, u = self.tmp(), self.tmp()
            self.multiply(n, self.const(m), None, t)
            self.emit(alu(u, n, "-", t))
            self.emit(shf(u, NONE, "B", u, Shift(">>", 1)))
            self.emit(alu(u, t, "+", u))
            if l > 1:
                self.emit(shf(lo_d, NONE, "B", u, Shift(">>", l - 1)))
            else:
                self.move(lo_d, u)
        self.set_hi(d, Imm(0))

    # -- jumps ----------------------------------------------------------------------------------------------
    def lower_jump(self, insn: Instruction, state: State) -> None:
        target = f"L{insn.meta['target']}"
        if insn.op == JmpOp.JA:
            self.emit(branch("br", target))
            return None
        is64 = insn.cls == Cls.JMP
        a, b = state.reg(insn.dst), state.reg(insn.src) if insn.uses_reg_src else analysis.scalar(insn.imm)
        if a.kind == b.kind == "scalar" and a.const is not None and b.const is not None:
            if self.decide(insn, a.const, b.const, is64):
                self.emit(branch("br", target))
            return None
        a_lo, a_hi = self.lo(insn.dst, state), (self.hi(insn.dst, state) if is64 else Imm(0))
        b_lo, b_hi = self.operand_b(insn, state, is64)
        wide = is64 and not (a_hi == Imm(0) and b_hi == Imm(0))
        op = insn.op
        if op in (JmpOp.JEQ, JmpOp.JNE, JmpOp.JSET):
            how = "AND" if op == JmpOp.JSET else "XOR"
            cond = "beq" if op == JmpOp.JEQ else "bne"
            a_lo, b_lo = self.pair(a_lo, b_lo)
            if not wide:
                self.emit(alu(NONE, a_lo, how, b_lo))
            else:
                a_hi, b_hi = self.pair(a_hi, b_hi)
                low, high = self.tmp(), self.tmp()
                self.emit(alu(low, a_lo, how, b_lo))
                self.emit(alu(high, a_hi, how, b_hi))
                self.emit(alu(NONE, low, "OR", high))
            self.emit(branch(cond, target))
            return None
        if op not in ORDERED:
            self.refuse(f"instruction {insn.code:#04x} not supported")
        if is64 and not wide and op in UNSIGNED_OF:
            op = UNSIGNED_OF[op]  # both values fit 32 bits unsigned: signed order is unsigned order
        cond, swap = ORDERED[op]
        if swap:
            a_lo, b_lo, a_hi, b_hi = b_lo, a_lo, b_hi, a_hi
        a_lo, b_lo = self.pair(a_lo, b_lo)
        if wide:
            a_hi, b_hi = self.pair(a_hi, b_hi)
        self.emit(alu(NONE, a_lo, "-", b_lo))
        if wide:
            self.emit(alu(NONE, a_hi, "-carry", b_hi))
        self.emit(branch(cond, target))
        return None

    @staticmethod
    def decide(insn: Instruction, a: int, b: int, is64: bool) -> bool:
        bits = 64 if is64 else 32
        mask = (1 << bits) - 1
        a, b = a & mask, b & mask

        def signed(v: int) -> int:
            return v - (1 << bits) if v >> (bits - 1) else v

        return {
            JmpOp.JEQ: a == b, JmpOp.JNE: a != b, JmpOp.JSET: bool(a & b), JmpOp.JGT: a > b, JmpOp.JGE: a >= b,
            JmpOp.JLT: a < b, JmpOp.JLE: a <= b, JmpOp.JSGT: signed(a) > signed(b),
            JmpOp.JSGE: signed(a) >= signed(b), JmpOp.JSLT: signed(a) < signed(b),
            JmpOp.JSLE: signed(a) <= signed(b),
        }[insn.op]

    # -- memory ------------------------------------------------------------------------------------------
    def pointer(self, insn: Instruction, state: State, reg: int) -> analysis.Val:
        base = state.reg(reg)
        if base.kind not in ("ctx", "pkt", "stack", "emem"):
            self.refuse(f"R{reg} is not a pointer the NFP can follow ({base.kind})")
        return base

    def address(self, base_reg: int, off: int) -> tuple[Operand, Operand]:
        base = self.reg(base_reg, "lo")
        return self.pair(base, self.const(off & M32, RESTRICTED.imm), restricted=True)

    def lower_load(self, insn: Instruction, state: State) -> None:
        if insn.mode != Mode.MEM:
            self.refuse(f"instruction {insn.code:#04x} not supported")
        base = self.pointer(insn, state, insn.src)
        d, size = insn.dst, insn.size_bytes
        if base.kind == "ctx":
            word = CTX_WORDS.get(insn.off)
            if word is None or size != 4:
                self.refuse(f"ctx access off={insn.off} size={size} not supported")
            self.set_lo(d, Lm(0, word))
            self.set_hi(d, Imm(0))
            return None
        if base.kind == "stack":
            return self.stack_load(insn, state, base)
        a, b = self.address(insn.src, insn.off)
        # whole host-order words, as jit.c data_ld_host_order; a narrow load keeps its low bytes
        self.emit(NfpInsn("mem", op="read32_swap", dst=Xfer("in", 0), a=a, b=b, value=-(-size // 4),
                          sync="ctx_swap", sig=SIG, meta={"bytes": size}))
        if size < 4:
            self.emit(NfpInsn("ld_field", dst=self.reg(d, "lo"), b=Xfer("in", 0), value=(1 << size) - 1,
                              width="w_clr"))
        else:
            self.set_lo(d, Xfer("in", 0))
        self.set_hi(d, Xfer("in", 1) if size == 8 else Imm(0))
        return None

    def store_value(self, insn: Instruction, state: State) -> tuple[Operand, Operand]:
        if insn.cls == Cls.ST:
            value = insn.imm & 0xFFFFFFFFFFFFFFFF
            return self.const(value & M32), self.const(value >> 32)
        return self.lo(insn.src, state), self.hi(insn.src, state)

    def lower_store(self, insn: Instruction, state: State) -> None:
        base = self.pointer(insn, state, insn.dst)
        size = insn.size_bytes
        if base.kind == "stack":
            return self.stack_store(insn, state, base)
        if base.kind == "emem":
            self.card_refuses("map writes not supported")
        if base.kind == "ctx":
            self.refuse("ctx writes not supported")
        lo, hi = self.store_value(insn, state)
        self.move(Xfer("out", 0), lo)
        if size == 8:
            self.move(Xfer("out", 1), hi)
        a, b = self.address(insn.dst, insn.off)
        self.emit(NfpInsn("mem", op="write8_swap", dst=Xfer("out", 0), a=a, b=b, value=size, sync="ctx_swap", sig=SIG))
        return None

    def lower_atomic(self, insn: Instruction, state: State) -> None:
        base = state.reg(insn.dst)
        if insn.imm != AtomicOp.ADD:
            self.refuse("atomic operations other than add are not supported")
        if base.kind != "emem":
            self.refuse("atomic add only into map values")
        size = insn.size_bytes
        self.move(Xfer("out", 0), self.lo(insn.src, state))
        if size == 8:
            self.move(Xfer("out", 1), self.hi(insn.src, state))
        # CMD_TGT_ADD with 40-bit addressing, as jit.c mem_xadd: A the low word, B the high byte (0)
        address = self.reg(insn.dst, "lo")
        if insn.off:
            address = self.tmp()
            self.emit(alu(address, self.reg(insn.dst, "lo"), "+", self.const(insn.off & M32)))
        self.emit(NfpInsn("mem", op="add", dst=Xfer("out", 0), a=address, b=Imm(0), value=size // 4,
                          sync="ctx_swap", sig=SIG, mode="40b_BA"))

    # -- the stack in LM --------------------------------------------------------------------------------
    def stack_address(self, offset: int) -> int:
        """Byte address in the thread's LM area of main-fp offset `offset`."""
        return LM_STACK_OFFSET + self.flat.stack_bytes + offset

    def with_stack_word(self, address: int, body) -> None:
        """Run body(Lm operand) for the LM word at `address`, moving LM pointer 1 if needed."""
        rel = address - self.ptr1_base
        if 0 <= rel < STACK_WINDOW:
            body(Lm(1, rel // 4))
            return
        window = address & ~(STACK_WINDOW - 1)
        self.set_ptr1(window)
        body(Lm(1, (address - window) // 4))
        self.set_ptr1(self.ptr1_base)

    def set_ptr1(self, offset: int) -> None:
        t = self.tmp()
        self.emit(alu(t, Lm(0, LM_CTX_BASE), "+", self.const(offset)))
        self.emit(NfpInsn("csr_wr", op="ACT_LM_ADDR1", b=t))
        for _ in range(3):  # local CSR write -> use: 3 cycles
            self.emit(nop())

    def stack_word_access(self, insn: Instruction, state: State, base: analysis.Val, reg: int):
        """(word access function, byte in word) for a stack access, constant or variable."""
        if base.offset is not None:
            address = self.stack_address(base.offset + insn.off)
            return (lambda delta, body: self.with_stack_word((address & ~3) + delta, body)), address & 3
        if base.mod4 is None:
            self.refuse("stack access changed location (different alignment on different paths)")
        # bpf/jit.c mem_op_stack with ptr_not_const: the address goes through an LM pointer
        byte = (base.mod4 + insn.off) % 4
        t = self.tmp()
        self.emit(alu(t, self.reg(reg, "lo"), "+", self.const((insn.off - byte) & M32)))
        self.emit(NfpInsn("csr_wr", op="ACT_LM_ADDR2", b=t))
        for _ in range(3):
            self.emit(nop())
        return (lambda delta, body: body(Lm(2, delta // 4))), byte

    def stack_load(self, insn: Instruction, state: State, base: analysis.Val) -> None:
        access, byte = self.stack_word_access(insn, state, base, insn.src)
        d, size = insn.dst, insn.size_bytes
        lo_d, hi_d = self.reg(d, "lo"), self.reg(d, "hi")
        if size >= 4:
            access(0, lambda op: self.emit(mov(lo_d, op)))
            if size == 8:
                access(4, lambda op: self.emit(mov(hi_d, op)))
            else:
                self.move(hi_d, Imm(0))
            return
        t = self.tmp()
        access(0, lambda op: self.emit(mov(t, op)))
        mask = (1 << size) - 1
        shift = Shift(">>", 8 * byte) if byte else None
        self.emit(NfpInsn("ld_field", dst=lo_d, b=t, value=mask, width="w_clr", shift=shift))
        self.move(hi_d, Imm(0))

    def stack_store(self, insn: Instruction, state: State, base: analysis.Val) -> None:
        size = insn.size_bytes
        lo, hi = self.store_value(insn, state)
        if size >= 4:
            lo = lo if isinstance(lo, (VReg, Imm)) else self.copy(lo)
            hi = hi if isinstance(hi, (VReg, Imm)) else self.copy(hi)
        else:
            lo = self.restricted(lo, RESTRICTED_I8.imm)
        access, byte = self.stack_word_access(insn, state, base, insn.dst)
        if size >= 4:
            access(0, lambda op: self.emit(mov(op, lo)))
            if size == 8:
                access(4, lambda op: self.emit(mov(op, hi)))
            return
        t = self.tmp()
        value = lo
        mask = ((1 << size) - 1) << byte
        shift = Shift("<<", 8 * byte) if byte else None

        def rmw(op: Lm) -> None:
            self.emit(mov(t, op))
            self.emit(NfpInsn("ld_field", dst=t, b=value, value=mask, shift=shift))
            self.emit(mov(op, t))

        access(0, rmw)

    # -- calls and exit ------------------------------------------------------------------------------------
    def lower_exit(self, state: State) -> None:
        self.move(firmware.A0, self.lo(0, state))
        self.move(firmware.B0, self.hi(0, state))
        self.emit(NfpInsn("br", op="br", target="fw.exit", extra_uses=(firmware.A0, firmware.B0),
                          meta={"fw": "exit"}))

    def stack_arg(self, state: State, reg: int, what: str) -> int:
        val = state.reg(reg)
        if val.kind != "stack" or val.offset is None:
            self.refuse(f"{what}: unsupported ptr type (must be the stack at a constant offset)")
        refusal = driver.stack_arg_refusal(what, driver.PTR_TO_STACK, val.offset)
        if refusal:  # unaligned: the driver refuses it, the emulator can run it
            self.card_refuses(refusal)
        return self.stack_address(val.offset)

    def point(self, ptr: int, address: int) -> None:
        t = self.tmp()
        self.emit(alu(t, Lm(0, LM_CTX_BASE), "+", self.const(address)))
        self.emit(NfpInsn("csr_wr", op=f"ACT_LM_ADDR{ptr}", b=t))

    def call_firmware(self, routine: str, a0: Operand) -> None:
        ret = self.fresh_label("ret")
        self.move(firmware.A0, a0)
        self.emit(immed(firmware.B0, 0)).target = ret
        # abi.py: a routine keeps GPRs 12-22 only, so nothing may live across it anywhere else
        clobbered = tuple(Gpr(bank, n) for n in abi.CLOBBERED if n for bank in ("A", "B"))
        self.emit(NfpInsn("br", op="br", target=f"fw.{routine}", extra_uses=(firmware.A0, firmware.B0),
                          extra_defs=(firmware.A0, firmware.B0) + clobbered, meta={"fw": routine}))
        self.label(ret)
        self.set_lo(0, firmware.A0)
        self.set_hi(0, firmware.B0)

    def fast_adjust_head(self, state: State) -> bool:
        calls = sum(1 for i in self.flat.insns if i.is_helper_call and i.imm == HELPER_ID["xdp_adjust_head"])
        delta = state.reg(2)
        low, high = firmware.ADJUST_HEAD_FAST_RANGE
        if calls != 1 or delta.kind != "scalar" or delta.const is None:
            return False
        value = delta.const & M32  # the helper takes an int
        value = value - (1 << 32) if value >> 31 else value
        return low <= value <= high

    def lower_call(self, insn: Instruction, state: State) -> None:
        if not insn.is_helper_call:
            self.refuse("calls other than helpers are not supported here (BPF-to-BPF calls are inlined)")
        fid = insn.imm
        helper = NFP_HELPERS.get(fid)
        if helper is None:
            self.refuse(driver.unsupported_helper(fid))
        name = helper.nfp.fname
        if helper.name == "get_prandom_u32":
            self.emit(NfpInsn("csr_rd", op="PSEUDO_RND_NUM"))
            self.emit(immed(self.reg(0, "lo"), 0))
            self.set_hi(0, Imm(0))
            return None
        if helper.name == "perf_event_output":
            raise XdpError(f"insn {insn.meta.get('origin', insn.pc)}: perf_event_output is not implemented in nfp-emu")
        routine = firmware.HELPER_ROUTINES[helper.name]
        if helper.name == "xdp_adjust_head" and self.fast_adjust_head(state):
            routine = "adjust_head_fast"
        if helper.name in ("xdp_adjust_head", "xdp_adjust_tail"):
            return self.call_firmware(routine, self.lo(2, state))
        m = state.reg(1)
        if m.kind != "map" or m.map is None:
            self.refuse(f"{name}: R1 is not a known map")
        map_id = self.maps.index(m.map)
        key = self.stack_arg(state, 2, name)
        self.point(2, key & ~3)
        arg = map_id | (key & 3) << firmware.KEY_BYTE_SHIFT
        if helper.name == "map_update_elem":
            value = self.stack_arg(state, 3, name)
            self.point(3, value & ~3)
            f = state.reg(4)
            if f.kind != "scalar" or f.const is None or f.const > 2:
                self.refuse(f"{name}: flags must be a constant BPF_ANY, BPF_NOEXIST or BPF_EXIST")
            arg |= f.const << firmware.FLAGS_SHIFT | (value & 3) << firmware.VALUE_BYTE_SHIFT
        return self.call_firmware(routine, self.const(arg))


def lower(program: Program, flat: Flat, maps: list[str], facts: dict | None = None) -> Lowered:
    return Lowering(program, flat, maps, facts).lower()


__all__ = ["Refused", "Lowered", "lower"]
