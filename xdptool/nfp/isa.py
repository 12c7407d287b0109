"""The NFP microengine instruction set as data.

One `NfpInsn` dataclass carries every instruction; what its fields mean for a
kind is declared once in `KINDS` (operand roles: which fields are read and
written, which pair of fields is the instruction's two sources, whether the
operands use the *restricted* encoding).  The printer, assembler, encoder,
executor and the allocator's def/use sets all walk these declarations.

Facts are from the Linux NFP driver (drivers/net/ethernet/netronome/nfp/
nfp_asm.h, nfp_asm.c, bpf/jit.c): the ALU operation codes, shift classes,
branch masks, immed widths and shifts, mul_step types and steps, memory
command targets.  Where the public sources are silent the choice is ours and
marked [inv] (see /work/shared/nfp-facts.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from .registers import MASK32, NONE, Gpr, Imm, Lm, Operand, VReg, Xfer, is_reg

# -- ALU operations (enum alu_op in nfp_asm.h; `+8` and `B-A` codes are [inv]) -------------
# name -> (code, result(a, b, carry_in) -> 33-bit value whose bit 32 is the carry out)


def _sub(a: int, b: int, borrow_in: int) -> int:
    # ARM-style carry: set when no borrow (BR_BHS "higher or same" after a - b).
    result = a - b - borrow_in
    return (result & MASK32) | ((result >= 0) << 32)


def _add16(a: int, b: int) -> int:
    total = (a & 0xFFFF) + (b & 0xFFFF)
    return (total & 0xFFFF) | (total >> 16) << 32


ALU_OPS: dict[str, tuple[int, Callable[[int, int, int], int]]] = {
    "B": (0x00, lambda a, b, c: b),
    "+": (0x01, lambda a, b, c: a + b),
    "+8": (0x02, lambda a, b, c: (a & 0xFF) + b),  # [inv] code
    "B-A": (0x03, lambda a, b, c: _sub(b, a, 0)),  # [inv] code
    "~B": (0x04, lambda a, b, c: ~b & MASK32),
    # ALU_OP_ADD_2B: a 16-bit sum, carry out of bit 15 [inv: jit.c adjust_head compares the
    # result with the firmware's 44..248 window, which only a 16-bit result makes meaningful]
    "+16": (0x05, lambda a, b, c: _add16(a, b)),
    "AND": (0x08, lambda a, b, c: a & b),
    "~AND": (0x0C, lambda a, b, c: ~a & b),  # ALU_OP_AND_NOT_A
    "-carry": (0x0D, lambda a, b, c: _sub(a, b, 1 - c)),  # ALU_OP_SUB_C
    "AND~": (0x10, lambda a, b, c: a & ~b),  # ALU_OP_AND_NOT_B
    "+carry": (0x11, lambda a, b, c: a + b + c),  # ALU_OP_ADD_C
    "OR": (0x14, lambda a, b, c: a | b),
    "-": (0x15, lambda a, b, c: _sub(a, b, 0)),
    "XOR": (0x18, lambda a, b, c: a ^ b),
}
ALU_BY_CODE = {code: name for name, (code, _) in ALU_OPS.items()}
ALU_IGNORES_A = {"B", "~B"}
ALU_ARITH = {"+", "+8", "+16", "+carry", "-", "-carry", "B-A"}  # set C and V

# -- shifts (enum shf_sc, enum shf_op) -------------------------------------------------------
SHF_OPS = {"B": 0, "AND": 2, "OR": 5, "ASR": 6}  # ASR: fill bit = bit 31 of the previous ALU result
SHF_BY_CODE = {v: k for k, v in SHF_OPS.items()}
SHIFT_CLASS = {"none": 0, ">>rot": 0, ">>": 1, "<<": 2, ">>dbl": 3}


@dataclass(frozen=True)
class Shift:
    """A shifter setting: kind is "<<", ">>", ">>rot" or ">>dbl" (64-bit funnel of A:B);
    amount None = indirect (the low 5 bits of the previous ALU result)."""

    kind: str
    amount: int | None

    def __str__(self) -> str:
        return f"{self.kind}{'indirect' if self.amount is None else self.amount}"


NO_SHIFT = Shift(">>rot", 0)

# -- branches (enum br_mask; bpl/bvs/bvc/bgt/ble codes are [inv]) ---------------------------
# name -> (mask, condition(z, n, c, v))
CONDITIONS: dict[str, tuple[int, Callable[[int, int, int, int], bool]]] = {
    "beq": (0x00, lambda z, n, c, v: z == 1),
    "bne": (0x01, lambda z, n, c, v: z == 0),
    "bmi": (0x02, lambda z, n, c, v: n == 1),
    "bpl": (0x03, lambda z, n, c, v: n == 0),
    "bhs": (0x04, lambda z, n, c, v: c == 1),
    "blo": (0x05, lambda z, n, c, v: c == 0),
    "bvs": (0x06, lambda z, n, c, v: v == 1),
    "bvc": (0x07, lambda z, n, c, v: v == 0),
    "bge": (0x08, lambda z, n, c, v: n == v),
    "blt": (0x09, lambda z, n, c, v: n != v),
    "bgt": (0x0A, lambda z, n, c, v: z == 0 and n == v),
    "ble": (0x0B, lambda z, n, c, v: z == 1 or n != v),
    "br": (0x18, lambda z, n, c, v: True),  # BR_UNC
}
COND_BY_MASK = {mask: name for name, (mask, _) in CONDITIONS.items()}
# defer slots: 2 for an unconditional br (jit.c emit_br_relo refuses more), 3 for a conditional
# branch and for rtn/jump (jit.c nfp_push_callee_registers: rtn with defer 3)
MAX_DEFER = {"br": 2, "cond": 3}

# -- immed (enum immed_width / immed_shift) ------------------------------------------------
# width name -> (width code, byte shift, value bits); "" = the whole register
IMMED_FORMS = {
    "": (0, None, 16),
    "w0": (2, 0, 16),
    "w1": (2, 2, 16),
    "b0": (1, 0, 8),
    "b1": (1, 1, 8),
    "b2": (1, 2, 8),
    "b3": (1, 3, 8),
}

# -- mul_step (enum mul_type, enum mul_step) ----------------------------------------------
MUL_TYPES = {"start": 0, "24x8": 1, "16x16": 2, "32x32": 3}
MUL_STEPS = {"step1": 0, "step2": 1, "step3": 2, "step4": 3, "last": 4, "last2": 5}
MUL_STEP_COUNT = {"24x8": 1, "16x16": 2, "32x32": 4}

# -- memory commands (nfp_asm.c cmd_tgt_act: token and target command, exactly) --------------
# name -> (token, target command, direction, unit): unit "byte" counts bytes, "word" 32-bit words.
# Byte order into/out of transfer registers: "swap" commands move host-order (little-endian)
# words, the others the memory's big-endian order (jit.c data_ld / data_ld_host_order).
MEM_COMMANDS: dict[str, tuple[int, int, str, str]] = {
    "read8": (0x01, 0x43, "read", "byte"),
    "write8_swap": (0x02, 0x42, "write", "byte"),
    "write32_swap": (0x02, 0x5F, "write", "word"),
    "read32": (0x00, 0x5C, "read", "word"),
    "read32_le": (0x01, 0x5C, "read", "word"),
    "read32_swap": (0x02, 0x5C, "read", "word"),
    "read_le": (0x01, 0x40, "read", "word"),
    "read_swap_le": (0x03, 0x40, "read", "word"),
    "add": (0x00, 0x47, "write", "word"),  # CMD_TGT_ADD: 40-bit addressing in the JIT (mem_xadd)
    "add_imm": (0x02, 0x47, "write", "word"),  # CMD_TGT_ADD_IMM: the addend rides in the previous ALU result
}
MEM_BY_CODE = {(tok, tgt): name for name, (tok, tgt, _, _) in MEM_COMMANDS.items()}
MEM_LITTLE_ENDIAN = {"write8_swap", "write32_swap", "read32_swap", "read32_le", "read_le", "read_swap_le"}
MEM_DIRECT_MAX = 8  # the 3-bit count field (OP_CMD_CNT): longer transfers take an indirect length
MEM_MAX_BYTES = 4 * MEM_DIRECT_MAX  # one direct read32 moves at most 32 bytes (nfp-facts)
MEM_INDIRECT_MAX = 32  # CMD_OV_LEN, 5 bits of the previous ALU result (nfp_cpp_memcpy: <= 128 B)
MEM_MODES = {"": 4, "40b_AB": 0, "40b_BA": 1}  # enum cmd_mode: "" is CMD_MODE_32b
# the previous ALU result overriding a command (nfp_asm.h CMD_OVE_LEN, CMD_OV_LEN, CMD_OVE_DATA)
CMD_OVE_LEN, CMD_OV_LEN_SHIFT, CMD_OV_LEN_MASK = 1 << 7, 8, 0x1F
CTX_SWAP_MODES = {"ctx_swap": 0, "ctx_swap_defer1": 1, "ctx_swap_defer2": 2, "sig_done": 3}

# -- local CSRs (nfp_asm.h) -------------------------------------------------------------------
CSRS = {
    "CTX_PTR": 0x20,
    "ACT_LM_ADDR0": 0x64,
    "ACT_LM_ADDR1": 0x6C,
    "ACT_LM_ADDR2": 0x94,
    "ACT_LM_ADDR3": 0x9C,
    "PSEUDO_RND_NUM": 0x148,
}
CSR_BY_ADDR = {v: k for k, v in CSRS.items()}
LM_ADDR_CSRS = [CSRS[f"ACT_LM_ADDR{i}"] for i in range(4)]
CSR_WRITE_LATENCY = 3  # local CSR write -> use: 3 cycles (nfp-facts; the JIT's wrp_nops(3))


@dataclass(frozen=True)
class Kind:
    """How the fields of an `NfpInsn` of one kind are used."""

    reads: tuple[str, ...]  # operand fields read
    writes: tuple[str, ...]  # operand fields written
    pair: tuple[str, str] | None  # the two source fields that must differ in class
    restricted: bool  # restricted operand encoding (imm <= 127 (+i8), GPR <= 31, LM offset <= 7)
    branch: bool = False


KINDS: dict[str, Kind] = {
    "alu": Kind(("a", "b"), ("dst",), ("a", "b"), False),
    "alu_shf": Kind(("a", "b"), ("dst",), ("a", "b"), True),
    "ld_field": Kind(("dst", "b"), ("dst",), ("dst", "b"), True),
    "immed": Kind((), ("dst",), None, False),
    "mul_step": Kind(("a", "b"), ("dst",), ("a", "b"), False),
    "br": Kind((), (), None, False, branch=True),
    "br_bit": Kind(("a",), (), None, True, branch=True),
    "rtn": Kind(("a",), (), None, False, branch=True),
    "jump": Kind(("a",), (), None, False, branch=True),  # to target + a: a jump table
    "mem": Kind(("a", "b"), (), ("a", "b"), True),
    "csr_wr": Kind(("b",), (), None, False),
    "csr_rd": Kind((), (), None, False),
    "ctx_arb": Kind((), (), None, False),
    "nop": Kind((), (), None, False),
}


@dataclass(eq=False)
class NfpInsn:
    """One NFP instruction (see `KINDS` for which fields a kind uses).

    `op`: ALU operation, shifter operation, branch condition, mul_step
    "<type>_<step>", memory command or CSR name.  `value`: immed constant,
    ld_field byte mask, memory byte/word count, tested bit, CSR address.
    `width`: immed form ("", "w0", "w1", "b0".."b3") or "w_clr" for ld_field.
    `target`: branch label (str) or address (int).  `sync`/`sig`: how a memory
    command signals; `mode`, `indirect`: its addressing and length override.  The rest is metadata for listings and analyses.
    """

    kind: str
    dst: Operand = NONE
    a: Operand = NONE
    b: Operand = NONE
    op: str = ""
    shift: Shift | None = None
    value: int = 0
    width: str = ""
    invert: bool = False
    target: Any = None
    defer: int = 0
    sync: str = ""
    sig: int = 0
    mode: str = ""  # memory commands: address mode (MEM_MODES)
    indirect: bool = False  # memory commands: the length comes from the previous ALU result
    note: str = ""
    ebpf_pc: int | None = None
    extra_uses: tuple = ()
    extra_defs: tuple = ()
    meta: dict = field(default_factory=dict)

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    # -- def/use, for liveness and allocation --------------------------------------------
    def uses(self) -> list:
        out = [getattr(self, f) for f in self.spec.reads]
        if self.kind == "ld_field" and self.width == "w_clr":
            out = [self.b]
        if self.kind == "immed" and self.width:
            out.append(self.dst)
        return [r for r in out if is_reg(r)] + list(self.extra_uses)

    def defs(self) -> list:
        out = [getattr(self, f) for f in self.spec.writes]
        return [r for r in out if is_reg(r)] + list(self.extra_defs)

    def operand_fields(self) -> list[str]:
        return sorted(set(self.spec.reads) | set(self.spec.writes))

    def replace_regs(self, mapping: Callable[[Operand], Operand]) -> None:
        for name in self.operand_fields():
            setattr(self, name, mapping(getattr(self, name)))
        self.extra_uses = tuple(mapping(r) for r in self.extra_uses)
        self.extra_defs = tuple(mapping(r) for r in self.extra_defs)

    # -- control flow ---------------------------------------------------------------------
    @property
    def is_branch(self) -> bool:
        return self.spec.branch

    @property
    def is_unconditional(self) -> bool:
        return self.kind in ("rtn", "jump") or (self.kind == "br" and self.op == "br")

    @property
    def is_move(self) -> bool:
        """alu[x, --, B, y] between two registers: a coalescing candidate."""
        return self.kind == "alu" and self.op == "B" and is_reg(self.dst) and is_reg(self.b)

    @property
    def swaps_context(self) -> bool:
        return (self.kind == "mem" and self.sync.startswith("ctx_swap")) or self.kind == "ctx_arb"

    @property
    def sets_cc(self) -> bool:
        return self.kind in ("alu", "alu_shf")

    def copy(self, **changes: Any) -> "NfpInsn":
        fields = dict(self.__dict__)
        fields["meta"] = dict(self.meta)
        fields.update(changes)
        return NfpInsn(**fields)

    def __repr__(self) -> str:
        from .printer import format_insn

        return f"<NfpInsn {format_insn(self)}>"


# -- small constructors the lowering uses -----------------------------------------------------


def alu(dst: Operand, a: Operand, op: str, b: Operand, **meta: Any) -> NfpInsn:
    return NfpInsn("alu", dst=dst, a=a, op=op, b=b, **meta)


def mov(dst: Operand, src: Operand, **meta: Any) -> NfpInsn:
    return NfpInsn("alu", dst=dst, op="B", b=src, **meta)


def shf(dst: Operand, a: Operand, op: str, b: Operand, shift: Shift, **meta: Any) -> NfpInsn:
    return NfpInsn("alu_shf", dst=dst, a=a, op=op, b=b, shift=shift, **meta)


def immed(dst: Operand, value: int, width: str = "", shift_bytes: int = 0, invert: bool = False) -> NfpInsn:
    shift = Shift("<<", 8 * shift_bytes) if shift_bytes else None
    return NfpInsn("immed", dst=dst, value=value, width=width, invert=invert, shift=shift)


def branch(cond: str, target: Any, defer: int = 0) -> NfpInsn:
    return NfpInsn("br", op=cond, target=target, defer=defer)


def nop() -> NfpInsn:
    return NfpInsn("nop")


def immed_value(insn: NfpInsn) -> tuple[int, int]:
    """(value written, mask of the bits written) for an immed instruction."""
    _, byte_shift, bits = IMMED_FORMS[insn.width]
    if byte_shift is None:
        shift = insn.shift.amount if insn.shift is not None else 0
    else:
        shift = 8 * byte_shift
    value = insn.value & ((1 << bits) - 1)
    if insn.width == "":
        result = (value << shift) & MASK32
        return ((~result & MASK32) if insn.invert else result), MASK32
    field_mask = (((1 << bits) - 1) << shift) & MASK32
    written = ((~value if insn.invert else value) << shift) & field_mask
    return written, field_mask


def constant_insns(dst: Operand, value: int) -> list[NfpInsn]:
    """The fewest immed instructions that load a 32-bit constant, in jit.c wrp_immed's order:
    16 bits shifted by 0, 1 or 2 bytes, then the same inverted, else two instructions."""
    value &= MASK32
    for candidate, invert in ((value, False), (~value & MASK32, True)):
        for shift in (0, 1, 2):
            if candidate & ~(0xFFFF << (8 * shift)) & MASK32 == 0:
                return [immed(dst, candidate >> (8 * shift), shift_bytes=shift, invert=invert)]
    return [immed(dst, value & 0xFFFF), immed(dst, value >> 16, width="w1")]


__all__ = [
    "ALU_OPS", "CONDITIONS", "KINDS", "MEM_COMMANDS", "NfpInsn", "Shift", "NO_SHIFT",
    "Gpr", "Imm", "Lm", "VReg", "Xfer", "NONE",
]
