"""A test oracle: the Linux nfp driver's instruction emitters, ported (our code, the driver's rules).

Each function follows one emitter of drivers/net/ethernet/netronome/nfp/nfp_asm.c
(swreg_to_unrestricted, swreg_to_restricted, nfp_swreg_to_unreg/rereg) and
bpf/jit.c (__emit_alu, __emit_shf, __emit_ld_field, __emit_immed/emit_immed,
__emit_mul/emit_mul, __emit_br, __emit_br_bit/emit_br_bit_relo,
__emit_br_alu/emit_rtn, __emit_cmd/emit_cmd_any, __emit_lcsr/emit_csr_wr,
__emit_csr_rd, emit_nop), with the field masks of nfp_asm.h written out again
here, independently of xdptool/nfp/encoding.py.  `oracle_encode` turns one of
our NfpInsn into the call the driver would make, so tests can compare
encoding.encode with it instruction by instruction.  Test-only.
"""

from __future__ import annotations

from dataclasses import dataclass

# -- nfp_asm.h ------------------------------------------------------------------------------------
UR_REG_XFR, UR_REG_LM, UR_REG_LM_IDX, UR_REG_LM_POST_MOD, UR_REG_LM_POST_MOD_DEC = 0x180, 0x200, 0x020, 0x010, 0x001
UR_REG_NN, UR_REG_NO_DST, UR_REG_IMM = 0x280, 0x300, 0x300
RE_REG_NO_DST, RE_REG_IMM, RE_REG_LM, RE_REG_LM_IDX, RE_REG_XFR = 0x020, 0x020, 0x050, 0x008, 0x080

OP_BR_BASE, OP_BR_MASK, OP_BR_EV_PIP, OP_BR_CSS = 0x0D800000020, 0x1F, 0x300, 0x3C000
OP_BR_DEFBR, OP_BR_ADDR_LO, OP_BR_ADDR_HI = 0x300000, 0x007FFC00000, 0x10000000000
OP_BR_BIT_BASE, OP_BR_BIT_A_SRC, OP_BR_BIT_B_SRC, OP_BR_BIT_BV = 0x0D000000000, 0xFF, 0x3FC00, 0x40000
OP_BR_BIT_SRC_LMEXTN = 0x40000000000
OP_BR_ALU_BASE, OP_BR_ALU_A_SRC, OP_BR_ALU_B_SRC, OP_BR_ALU_DEFBR = 0x0E800000000, 0x3FF, 0xFFC00, 0x300000
OP_BR_ALU_IMM_HI, OP_BR_ALU_SRC_LMEXTN, OP_BR_ALU_DST_LMEXTN = 0x0007FC00000, 0x40000000000, 0x80000000000
OP_IMMED_A_SRC, OP_IMMED_B_SRC, OP_IMMED_IMM, OP_IMMED_WIDTH = 0x3FF, 0xFFC00, 0xFF00000, 0x60000000
OP_IMMED_INV, OP_IMMED_SHIFT, OP_IMMED_BASE, OP_IMMED_WR_AB = 0x80000000, 0x600000000, 0x0F000000000, 0x20000000000
OP_IMMED_SRC_LMEXTN, OP_IMMED_DST_LMEXTN = 0x40000000000, 0x80000000000
OP_SHF_BASE, OP_SHF_A_SRC, OP_SHF_SC, OP_SHF_B_SRC, OP_SHF_I8 = 0x08000000000, 0xFF, 0x300, 0x3FC00, 0x40000
OP_SHF_SW, OP_SHF_DST, OP_SHF_SHIFT, OP_SHF_OP, OP_SHF_DST_AB = 0x80000, 0xFF00000, 0x1F0000000, 0xE00000000, 0x1000000000
OP_SHF_WR_AB, OP_SHF_SRC_LMEXTN, OP_SHF_DST_LMEXTN = 0x20000000000, 0x40000000000, 0x80000000000
OP_ALU_A_SRC, OP_ALU_B_SRC, OP_ALU_DST, OP_ALU_SW, OP_ALU_OP = 0x3FF, 0xFFC00, 0x3FF00000, 0x40000000, 0xF80000000
OP_ALU_DST_AB, OP_ALU_BASE, OP_ALU_WR_AB = 0x1000000000, 0x0A000000000, 0x20000000000
OP_ALU_SRC_LMEXTN, OP_ALU_DST_LMEXTN = 0x40000000000, 0x80000000000
OP_LDF_BASE, OP_LDF_A_SRC, OP_LDF_SC, OP_LDF_B_SRC, OP_LDF_I8 = 0x0C000000000, 0xFF, 0x300, 0x3FC00, 0x40000
OP_LDF_SW, OP_LDF_ZF, OP_LDF_BMASK, OP_LDF_SHF, OP_LDF_WR_AB = 0x80000, 0x100000, 0xF000000, 0x1F0000000, 0x20000000000
OP_LDF_SRC_LMEXTN, OP_LDF_DST_LMEXTN = 0x40000000000, 0x80000000000
OP_CMD_A_SRC, OP_CMD_CTX, OP_CMD_B_SRC, OP_CMD_TOKEN, OP_CMD_XFER = 0xFF, 0x300, 0x3FC00, 0xC0000, 0x1F00000
OP_CMD_CNT, OP_CMD_SIG, OP_CMD_TGT_CMD, OP_CMD_INDIR, OP_CMD_MODE = 0xE000000, 0xF0000000, 0x7F00000000, 0x20000000000, 0x1C0000000000
OP_LCSR_BASE, OP_LCSR_A_SRC, OP_LCSR_B_SRC, OP_LCSR_WRITE, OP_LCSR_ADDR = 0x0FC00000000, 0x3FF, 0xFFC00, 0x200000, 0x1FFC00000
OP_LCSR_SRC_LMEXTN, OP_LCSR_DST_LMEXTN = 0x40000000000, 0x80000000000
OP_MUL_BASE, OP_MUL_A_SRC, OP_MUL_B_SRC, OP_MUL_STEP, OP_MUL_DST_AB = 0x0F800000000, 0x3FF, 0xFFC00, 0x700000, 0x800000
OP_MUL_SW, OP_MUL_TYPE, OP_MUL_WR_AB = 0x40000000, 0x180000000, 0x20000000000
OP_MUL_SRC_LMEXTN, OP_MUL_DST_LMEXTN = 0x40000000000, 0x80000000000

ALU_OP = {"B": 0x00, "+": 0x01, "~B": 0x04, "+16": 0x05, "AND": 0x08, "~AND": 0x0C, "-carry": 0x0D, "AND~": 0x10,
          "+carry": 0x11, "OR": 0x14, "-": 0x15, "XOR": 0x18}
SHF_OP = {"B": 0, "AND": 2, "OR": 5, "ASR": 6}
SHF_SC = {"none": 0, ">>rot": 0, ">>": 1, "<<": 2, ">>dbl": 3}
BR_MASK = {"beq": 0x00, "bne": 0x01, "bmi": 0x02, "bhs": 0x04, "blo": 0x05, "bge": 0x08, "blt": 0x09, "br": 0x18}
CMD_TGT = {"read8": (0x01, 0x43), "write8_swap": (0x02, 0x42), "write32_swap": (0x02, 0x5F), "read32": (0x00, 0x5C),
           "read32_le": (0x01, 0x5C), "read32_swap": (0x02, 0x5C), "read_le": (0x01, 0x40),
           "read_swap_le": (0x03, 0x40), "add": (0x00, 0x47), "add_imm": (0x02, 0x47)}
CMD_MODE = {"": 4, "40b_AB": 0, "40b_BA": 1}
CSR = {"CTX_PTR": 0x20, "ACT_LM_ADDR0": 0x64, "ACT_LM_ADDR1": 0x6C, "ACT_LM_ADDR2": 0x94, "ACT_LM_ADDR3": 0x9C,
       "PSEUDO_RND_NUM": 0x148}
MUL_TYPE = {"start": 0, "24x8": 1, "16x16": 2, "32x32": 3}
MUL_STEP = {"step1": 0, "step2": 1, "step3": 2, "step4": 3, "last": 4, "last2": 5}
BR_CSS_NONE = 2


def prep(mask: int, value: int) -> int:
    """FIELD_PREP: the value shifted into the mask (and cut to it)."""
    shift = (mask & -mask).bit_length() - 1
    return (value << shift) & mask


# -- swreg (nfp_asm.h): the driver's operand representation -------------------------------------------
@dataclass(frozen=True)
class Swreg:
    type: str  # "a", "b", "both", "nnr", "xfer", "imm", "none", "lmem"
    value: int = 0
    lm_id: int = 0  # LM pointer 0..3
    lm_mode: str = ""  # "", "inc", "dec"


NONE = Swreg("none")


def _unreg(r: Swreg, is_dst: bool) -> int:  # nfp_swreg_to_unreg
    if r.type in ("a", "b", "both"):
        return r.value
    if r.type == "nnr":
        return UR_REG_NN | r.value
    if r.type == "xfer":
        return UR_REG_XFR | r.value
    if r.type == "lmem":
        lm_id = r.lm_id & 1
        if not r.lm_mode:
            assert r.value <= 0xF
            return UR_REG_LM | prep(UR_REG_LM_IDX, lm_id) | r.value
        return UR_REG_LM | UR_REG_LM_POST_MOD | prep(UR_REG_LM_IDX, lm_id) | (r.lm_mode == "dec")
    if r.type == "imm":
        assert r.value <= 0xFF
        return UR_REG_IMM | r.value
    return UR_REG_NO_DST if is_dst else 0


def _rereg(r: Swreg, is_dst: bool, has_imm8: bool) -> tuple[int, bool]:  # nfp_swreg_to_rereg
    if r.type in ("a", "b", "both"):
        return r.value, False
    if r.type == "xfer":
        return RE_REG_XFR | r.value, False
    if r.type == "lmem":
        assert not r.lm_mode and r.value <= 7
        return RE_REG_LM | prep(RE_REG_LM_IDX, r.lm_id & 1) | r.value, False
    if r.type == "imm":
        assert r.value <= (0xFF if has_imm8 else 0x7F)
        v = r.value & 0x7F
        return RE_REG_IMM | (v & 0x1F) | ((v & 0x60) << 1), bool(r.value & 0x80)
    assert r.type == "none"
    return (RE_REG_NO_DST if is_dst else 0), False


def _lmextn(r: Swreg) -> bool:
    return r.type == "lmem" and bool(r.lm_id & 2)


def _swap(lreg: Swreg, rreg: Swreg) -> bool:
    assert not (lreg.type == rreg.type and lreg.type != "none"), "two sources of one type"
    return lreg.type == "b" or rreg.type == "a"


def to_unrestricted(dst: Swreg, lreg: Swreg, rreg: Swreg) -> dict:  # swreg_to_unrestricted
    swap = _swap(lreg, rreg)
    first, second = (rreg, lreg) if swap else (lreg, rreg)
    return dict(dst_ab=dst.type == "b", wr_both=dst.type == "both", dst=_unreg(dst, True),
                areg=_unreg(first, False), breg=_unreg(second, False), swap=swap,
                dst_lmextn=_lmextn(dst), src_lmextn=_lmextn(lreg) or _lmextn(rreg))


def to_restricted(dst: Swreg, lreg: Swreg, rreg: Swreg, has_imm8: bool) -> dict:  # swreg_to_restricted
    swap = _swap(lreg, rreg)
    first, second = (rreg, lreg) if swap else (lreg, rreg)
    areg, i8a = _rereg(first, False, has_imm8)
    breg, i8b = _rereg(second, False, has_imm8)
    return dict(dst_ab=dst.type == "b", wr_both=dst.type == "both", dst=_rereg(dst, True, False)[0],
                areg=areg, breg=breg, swap=swap, i8=i8a or i8b,
                dst_lmextn=_lmextn(dst), src_lmextn=_lmextn(lreg) or _lmextn(rreg))


# -- jit.c emitters -----------------------------------------------------------------------------------
def emit_alu(dst: Swreg, lreg: Swreg, op: str, rreg: Swreg) -> int:
    r = to_unrestricted(dst, lreg, rreg)
    return (OP_ALU_BASE | prep(OP_ALU_A_SRC, r["areg"]) | prep(OP_ALU_B_SRC, r["breg"]) | prep(OP_ALU_DST, r["dst"])
            | prep(OP_ALU_SW, r["swap"]) | prep(OP_ALU_OP, ALU_OP[op]) | prep(OP_ALU_DST_AB, r["dst_ab"])
            | prep(OP_ALU_WR_AB, r["wr_both"]) | prep(OP_ALU_SRC_LMEXTN, r["src_lmextn"])
            | prep(OP_ALU_DST_LMEXTN, r["dst_lmextn"]))


def emit_shf(dst: Swreg, lreg: Swreg, op: str, rreg: Swreg, sc: str, shift: int) -> int:
    r = to_restricted(dst, lreg, rreg, True)
    if SHF_SC[sc] == 2 and shift:  # __emit_shf: a left shift by n is written as 32 - n
        shift = 32 - shift
    assert 0 <= shift <= 0x1F
    return (OP_SHF_BASE | prep(OP_SHF_A_SRC, r["areg"]) | prep(OP_SHF_SC, SHF_SC[sc]) | prep(OP_SHF_B_SRC, r["breg"])
            | prep(OP_SHF_I8, r["i8"]) | prep(OP_SHF_SW, r["swap"]) | prep(OP_SHF_DST, r["dst"])
            | prep(OP_SHF_SHIFT, shift) | prep(OP_SHF_OP, SHF_OP[op]) | prep(OP_SHF_DST_AB, r["dst_ab"])
            | prep(OP_SHF_WR_AB, r["wr_both"]) | prep(OP_SHF_SRC_LMEXTN, r["src_lmextn"])
            | prep(OP_SHF_DST_LMEXTN, r["dst_lmextn"]))


def emit_ld_field(dst: Swreg, bmask: int, src: Swreg, sc: str, shift: int, zero: bool) -> int:
    """emit_ld_field_any: the shift is passed through as the caller computed it (32 - n for a left one)."""
    r = to_restricted(dst, dst, src, True)
    return (OP_LDF_BASE | prep(OP_LDF_A_SRC, r["areg"]) | prep(OP_LDF_SC, SHF_SC[sc]) | prep(OP_LDF_B_SRC, r["breg"])
            | prep(OP_LDF_I8, r["i8"]) | prep(OP_LDF_SW, r["swap"]) | prep(OP_LDF_ZF, zero)
            | prep(OP_LDF_BMASK, bmask) | prep(OP_LDF_SHF, shift) | prep(OP_LDF_WR_AB, r["wr_both"])
            | prep(OP_LDF_SRC_LMEXTN, r["src_lmextn"]) | prep(OP_LDF_DST_LMEXTN, r["dst_lmextn"]))


def emit_immed(dst: Swreg, imm: int, width: int, invert: bool, shift: int) -> int:
    r = to_unrestricted(dst, dst, Swreg("imm", imm & 0xFF))
    areg = r["dst"] if dst.type == "none" else r["areg"]
    return (OP_IMMED_BASE | prep(OP_IMMED_A_SRC, areg) | prep(OP_IMMED_B_SRC, r["breg"])
            | prep(OP_IMMED_IMM, imm >> 8) | prep(OP_IMMED_WIDTH, width) | prep(OP_IMMED_INV, invert)
            | prep(OP_IMMED_SHIFT, shift) | prep(OP_IMMED_WR_AB, r["wr_both"])
            | prep(OP_IMMED_SRC_LMEXTN, r["src_lmextn"]) | prep(OP_IMMED_DST_LMEXTN, r["dst_lmextn"]))


def emit_nop() -> int:
    return OP_IMMED_BASE | prep(OP_IMMED_A_SRC, UR_REG_IMM) | prep(OP_IMMED_B_SRC, UR_REG_IMM)


def emit_mul(lreg: Swreg, mtype: str, step: str | None, rreg: Swreg) -> int:
    if step in ("last", "last2"):
        r = to_unrestricted(lreg, NONE, rreg)
        areg = r["dst"]
    else:
        r = to_unrestricted(NONE, lreg, rreg)
        areg = r["areg"]
    return (OP_MUL_BASE | prep(OP_MUL_A_SRC, areg) | prep(OP_MUL_B_SRC, r["breg"])
            | prep(OP_MUL_STEP, MUL_STEP[step] if step else 0) | prep(OP_MUL_DST_AB, r["dst_ab"])
            | prep(OP_MUL_SW, r["swap"]) | prep(OP_MUL_TYPE, MUL_TYPE[mtype]) | prep(OP_MUL_WR_AB, r["wr_both"])
            | prep(OP_MUL_SRC_LMEXTN, r["src_lmextn"]) | prep(OP_MUL_DST_LMEXTN, r["dst_lmextn"]))


def emit_br(mask: str, addr: int, defer: int) -> int:
    addr_lo = addr & (OP_BR_ADDR_LO >> 22)
    return (OP_BR_BASE | prep(OP_BR_MASK, BR_MASK[mask]) | prep(OP_BR_EV_PIP, mask != "br")
            | prep(OP_BR_CSS, BR_CSS_NONE) | prep(OP_BR_DEFBR, defer) | prep(OP_BR_ADDR_LO, addr_lo)
            | prep(OP_BR_ADDR_HI, addr != addr_lo))


def emit_br_bit(src: Swreg, bit: int, addr: int, defer: int, set_: bool) -> int:
    r = to_restricted(NONE, src, Swreg("imm", bit + 1), False)
    addr_lo = addr & (OP_BR_ADDR_LO >> 22)
    return (OP_BR_BIT_BASE | prep(OP_BR_BIT_A_SRC, r["areg"]) | prep(OP_BR_BIT_B_SRC, r["breg"])
            | prep(OP_BR_BIT_BV, set_) | prep(OP_BR_DEFBR, defer) | prep(OP_BR_ADDR_LO, addr_lo)
            | prep(OP_BR_ADDR_HI, addr != addr_lo) | prep(OP_BR_BIT_SRC_LMEXTN, r["src_lmextn"]))


def emit_rtn(base: Swreg, defer: int) -> int:
    r = to_unrestricted(NONE, base, Swreg("imm", 0))
    return (OP_BR_ALU_BASE | prep(OP_BR_ALU_A_SRC, r["areg"]) | prep(OP_BR_ALU_B_SRC, r["breg"])
            | prep(OP_BR_ALU_DEFBR, defer) | prep(OP_BR_ALU_IMM_HI, 0) | prep(OP_BR_ALU_SRC_LMEXTN, r["src_lmextn"])
            | prep(OP_BR_ALU_DST_LMEXTN, r["dst_lmextn"]))


def emit_cmd(op: str, mode: str, xfer: int, lreg: Swreg, rreg: Swreg, size: int, ctx: int, indir: bool) -> int:
    r = to_restricted(NONE, lreg, rreg, False)
    assert not r["swap"] and not r["dst_lmextn"] and not r["src_lmextn"], "cmd can't swap or use LMextn"
    token, tgt = CMD_TGT[op]
    return (prep(OP_CMD_A_SRC, r["areg"]) | prep(OP_CMD_CTX, ctx) | prep(OP_CMD_B_SRC, r["breg"])
            | prep(OP_CMD_TOKEN, token) | prep(OP_CMD_XFER, xfer) | prep(OP_CMD_CNT, size)
            | prep(OP_CMD_SIG, ctx != 3) | prep(OP_CMD_TGT_CMD, tgt) | prep(OP_CMD_INDIR, indir)
            | prep(OP_CMD_MODE, CMD_MODE[mode]))


def emit_csr_wr(src: Swreg, addr: int) -> int:
    if src.type == "imm":
        r = to_unrestricted(NONE, src, NONE)
        r["breg"] = r["areg"]
    else:
        r = to_unrestricted(NONE, src, Swreg("imm", 0))
    return (OP_LCSR_BASE | prep(OP_LCSR_A_SRC, r["areg"]) | prep(OP_LCSR_B_SRC, r["breg"])
            | prep(OP_LCSR_WRITE, 1) | prep(OP_LCSR_ADDR, addr // 4) | prep(OP_LCSR_SRC_LMEXTN, r["src_lmextn"]))


def emit_csr_rd(addr: int) -> int:
    return OP_LCSR_BASE | prep(OP_LCSR_ADDR, addr // 4)


def check_valid_no_ecc(word: int) -> bool:  # nfp_ustore_check_valid_no_ecc
    return not word & ~((1 << 46) - 1)


# -- our instructions as the driver's calls ----------------------------------------------------------------
def swreg(op) -> Swreg:
    from xdptool.nfp.registers import NONE as OUR_NONE, Gpr, Imm, Lm, Xfer

    if op is OUR_NONE:
        return NONE
    if isinstance(op, Gpr):
        return Swreg({"A": "a", "B": "b", "AB": "both"}[op.bank], op.index)
    if isinstance(op, Imm):
        return Swreg("imm", op.value)
    if isinstance(op, Xfer):
        return Swreg("xfer", op.index)
    if isinstance(op, Lm):
        return Swreg("lmem", op.offset, op.ptr, {"": "", "++": "inc", "--": "dec"}[op.mode])
    raise AssertionError(f"no driver operand for {op}")


def _sc_shift(shift) -> tuple[str, int]:
    """(shift class, amount as emit_shf takes it): a left shift's amount is n, emit_shf converts."""
    if shift is None:
        return "none", 0
    return shift.kind, 0 if shift.amount is None else shift.amount


def oracle_encode(insn) -> int:
    """The driver's encoding of `insn` (resolved targets)."""
    from xdptool.nfp.isa import IMMED_FORMS

    k = insn.kind
    if k == "alu":
        lreg = NONE if insn.op in ("B", "~B") else swreg(insn.a)
        return emit_alu(swreg(insn.dst), lreg, insn.op, swreg(insn.b))
    if k == "alu_shf":
        sc, amount = _sc_shift(insn.shift)
        return emit_shf(swreg(insn.dst), swreg(insn.a), insn.op, swreg(insn.b), sc, amount)
    if k == "ld_field":
        sc, amount = _sc_shift(insn.shift)
        if sc == "<<" and amount:
            amount = 32 - amount  # wrp_reg_or_subpart / wrp_lmem_*: the caller writes 32 - n
        return emit_ld_field(swreg(insn.dst), insn.value, swreg(insn.b), sc, amount, insn.width == "w_clr")
    if k == "immed":
        code, byte_shift, _ = IMMED_FORMS[insn.width]
        value = insn.target if insn.target is not None else insn.value
        shift = (insn.shift.amount // 8 if insn.shift else 0) if byte_shift is None else byte_shift
        return emit_immed(swreg(insn.dst), value, code, insn.invert, shift)
    if k == "nop":
        return emit_nop()
    if k == "mul_step":
        mtype, _, step = insn.op.partition("_")
        if insn.op == "start":
            return emit_mul(swreg(insn.a), "start", None, swreg(insn.b))
        if step in ("last", "last2"):
            return emit_mul(swreg(insn.dst), mtype, step, swreg(insn.b))
        return emit_mul(swreg(insn.a), mtype, step, swreg(insn.b))
    if k == "br":
        return emit_br(insn.op, insn.target, insn.defer)
    if k == "br_bit":
        return emit_br_bit(swreg(insn.a), insn.value, insn.target, insn.defer, insn.op == "br_bset")
    if k == "rtn":
        return emit_rtn(swreg(insn.a), insn.defer)
    if k == "mem":
        size = (insn.value - 1) << 2 if insn.op == "add" else (insn.value - 1) & 7
        ctx = 3 if insn.sync == "sig_done" else insn.defer
        return emit_cmd(insn.op, insn.mode, insn.dst.index, swreg(insn.a), swreg(insn.b), size, ctx, insn.indirect)
    if k == "csr_wr":
        return emit_csr_wr(swreg(insn.b), CSR[insn.op])
    if k == "csr_rd":
        return emit_csr_rd(CSR[insn.op])
    raise AssertionError(f"the kernel JIT has no emitter for {k}")
