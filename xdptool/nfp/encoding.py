"""64-bit binary encoding of NFP instructions, following nfp_asm.h's field masks.

Each kind's layout is a table of (field, mask) pairs copied as *facts* from the
Linux driver's drivers/net/ethernet/netronome/nfp/nfp_asm.h (OP_ALU_*, OP_SHF_*,
OP_LDF_*, OP_IMMED_*, OP_MUL_*, OP_BR_*, OP_BR_BIT_*, OP_BR_ALU_*, OP_CMD_*,
OP_LCSR_*, OP_CARB_*); `pack`/`unpack` walk the same table both ways.

Operands (nfp_asm.c, swreg_to_unrestricted / swreg_to_restricted):
  unrestricted, 10 bits: GPR n = n (the field, A or B, gives the bank); transfer
    0x180|n; LM 0x200 | ptr bit0 << 5 | offset (<= 15), post-inc/dec 0x210 | ptr
    bit0 << 5 | dec; NN 0x280|n; immediate 0x300|v (v <= 255); no destination 0x300.
  restricted, 8 bits: GPR n (<= 31); transfer 0x80|n; LM 0x50 | ptr bit0 << 3 |
    offset (<= 7); immediate 0x20 | v[4:0] | v[6:5] << 6 (+ bit 7 in the I8 field
    where the kind has one); no destination 0x20.
  LM pointer bit 1 goes to the SRC/DST_LMEXTN bit.  A source of "--" is 0.
  Two sources go to the A and B fields; SW (swap) says the printed order is B, A —
  set when the first source is a B-bank register or the second an A-bank one.

Memory commands as jit.c __emit_cmd: the 3-bit count holds count - 1 (a longer
transfer is `indirect`: the previous ALU result carries the length, CMD_OVE_LEN,
and the field keeps the low 3 bits), except `add`, whose count field is 0 or 4
for a 32- or 64-bit add (mem_xadd: `is64 << 2`); the signal field is 1 for a
context swap and 0 otherwise.  Every word fits GENMASK(45, 0), the ustore's
validity check (nfp_ustore_check_valid_no_ecc): `encode` asserts it.

Ours [inv], where nfp_asm.h is silent: alu op codes for `+8`/`B-A`; ctx_arb's
signal mask in bits 15:0 (bit 0 = voluntary); the LCSR address field holds the
CSR address / 4; `nop` is the driver's `immed` with no destination and no value.
"""

from __future__ import annotations

from ..errors import XdpError
from .isa import (
    ALU_BY_CODE,
    ALU_IGNORES_A,
    ALU_OPS,
    COND_BY_MASK,
    CONDITIONS,
    CSR_BY_ADDR,
    CSRS,
    CTX_SWAP_MODES,
    IMMED_FORMS,
    MEM_BY_CODE,
    MEM_COMMANDS,
    MEM_DIRECT_MAX,
    MEM_INDIRECT_MAX,
    MEM_MODES,
    MUL_STEPS,
    MUL_TYPES,
    SHF_BY_CODE,
    SHF_OPS,
    SHIFT_CLASS,
    NfpInsn,
    Shift,
)
from .registers import NONE, NN, Gpr, Imm, Lm, Operand, Xfer


class EncodeError(XdpError):
    """An instruction that has no encoding (illegal operand pair, value out of range)."""


def _shift_of(mask: int) -> int:
    return (mask & -mask).bit_length() - 1


def put(word: int, mask: int, value: int, what: str) -> int:
    width = bin(mask).count("1")
    if not 0 <= value < (1 << width):
        raise EncodeError(f"{what} {value:#x} does not fit {width} bits")
    return word | (value << _shift_of(mask))


def get(word: int, mask: int) -> int:
    return (word & mask) >> _shift_of(mask)


# -- field tables (nfp_asm.h) ------------------------------------------------------------------
ALU = dict(base=0x0A000000000, a=0x000000003FF, b=0x000000FFC00, dst=0x0003FF00000, sw=0x00040000000,
           op=0x00F80000000, dst_ab=0x01000000000, wr_ab=0x20000000000, src_lmextn=0x40000000000,
           dst_lmextn=0x80000000000)
SHF = dict(base=0x08000000000, a=0x000000000FF, sc=0x00000000300, b=0x0000003FC00, i8=0x00000040000,
           sw=0x00000080000, dst=0x0000FF00000, shift=0x001F0000000, op=0x00E00000000, dst_ab=0x01000000000,
           wr_ab=0x20000000000, src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
LDF = dict(base=0x0C000000000, a=0x000000000FF, sc=0x00000000300, b=0x0000003FC00, i8=0x00000040000,
           sw=0x00000080000, zf=0x00000100000, bmask=0x0000F000000, shift=0x001F0000000, wr_ab=0x20000000000,
           src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
IMMED = dict(base=0x0F000000000, a=0x000000003FF, b=0x000000FFC00, imm=0x0000FF00000, width=0x00060000000,
             inv=0x00080000000, shift=0x00600000000, wr_ab=0x20000000000, src_lmextn=0x40000000000,
             dst_lmextn=0x80000000000)
MUL = dict(base=0x0F800000000, a=0x000000003FF, b=0x000000FFC00, step=0x00000700000, dst_ab=0x00000800000,
           sw=0x00040000000, type=0x00180000000, wr_ab=0x20000000000, src_lmextn=0x40000000000,
           dst_lmextn=0x80000000000)
BR = dict(base=0x0D800000020, mask=0x0000000001F, ev_pip=0x00000000300, css=0x0000003C000, defer=0x00000300000,
          addr_lo=0x007FFC00000, addr_hi=0x10000000000)
BR_BIT = dict(base=0x0D000000000, a=0x000000000FF, b=0x0000003FC00, bv=0x00000040000, defer=0x00000300000,
              addr_lo=0x007FFC00000, addr_hi=0x10000000000, src_lmextn=0x40000000000)
BR_ALU = dict(base=0x0E800000000, a=0x000000003FF, b=0x000000FFC00, defer=0x00000300000, imm_hi=0x0007FC00000,
              src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
CMD = dict(a=0x000000000FF, ctx=0x00000000300, b=0x0000003FC00, token=0x000000C0000, xfer=0x00001F00000,
           cnt=0x0000E000000, sig=0x000F0000000, tgt=0x07F00000000, indir=0x20000000000, mode=0x1C0000000000)
LCSR = dict(base=0x0FC00000000, a=0x000000003FF, b=0x000000FFC00, write=0x00000200000, addr=0x001FFC00000,
            src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
CARB = dict(base=0x0E000000000, sigs=0x0000000FFFF)

USTORE_VALID = (1 << 46) - 1  # nfp_asm.c nfp_ustore_check_valid_no_ecc: GENMASK(45, 0)
BR_CSS_NONE = 2
UR_IMM, UR_XFR, UR_LM, UR_NN = 0x300, 0x180, 0x200, 0x280
RE_IMM, RE_XFR, RE_LM = 0x20, 0x80, 0x50


# -- operands ----------------------------------------------------------------------------------------
def _lm_ext(op: Operand) -> int:
    return (op.ptr >> 1) & 1 if isinstance(op, Lm) else 0


def ur_operand(op: Operand, is_dst: bool) -> int:
    """nfp_swreg_to_unreg: a 10-bit unrestricted operand."""
    if isinstance(op, Gpr):
        if not 0 <= op.index < 0x80:
            raise EncodeError(f"{op}: GPR number out of range")
        return op.index
    if isinstance(op, Xfer):
        return UR_XFR | _small(op.index, 0x7F, op)
    if isinstance(op, NN):
        return UR_NN | _small(op.index, 0x7F, op)
    if isinstance(op, Lm):
        if op.mode:
            return UR_LM | 0x10 | (op.ptr & 1) << 5 | (op.mode == "--")
        return UR_LM | (op.ptr & 1) << 5 | _small(op.offset, 0xF, op)
    if isinstance(op, Imm):
        return UR_IMM | _small(op.value, 0xFF, op)
    if op is NONE:
        return UR_IMM if is_dst else 0
    raise EncodeError(f"{op}: not a physical operand (allocate registers first)")


def re_operand(op: Operand, is_dst: bool, has_i8: bool = True) -> tuple[int, int]:
    """nfp_swreg_to_rereg: an 8-bit restricted operand and its I8 bit (where the kind has one)."""
    if isinstance(op, Gpr):
        return _small(op.index, 0x1F, op), 0
    if isinstance(op, Xfer):
        return RE_XFR | _small(op.index, 0x1F, op), 0
    if isinstance(op, Lm):
        if op.mode:
            raise EncodeError(f"{op}: LM post-modify in a restricted operand")
        return RE_LM | (op.ptr & 1) << 3 | _small(op.offset, 0x7, op), 0
    if isinstance(op, Imm):
        v = _small(op.value, 0xFF if has_i8 else 0x7F, op)
        return RE_IMM | (v & 0x1F) | ((v & 0x60) << 1), v >> 7
    if op is NONE:
        return (RE_IMM if is_dst else 0), 0
    raise EncodeError(f"{op}: not allowed in a restricted operand")


def _small(value: int, limit: int, op: Operand) -> int:
    if not 0 <= value <= limit:
        raise EncodeError(f"{op}: out of range for its operand field (max {limit})")
    return value


def decode_ur(value: int, bank: str, is_dst: bool = False) -> Operand:
    if value < 0x100:
        return Gpr(bank, value)
    kind = value & 0x380
    if value & 0x300 == UR_IMM:
        return NONE if is_dst else Imm(value & 0xFF)
    if value & 0x200:
        ptr = (value >> 5) & 1
        if kind == UR_NN:
            return NN(value & 0x7F)
        if value & 0x10:
            return Lm(ptr, 0, "--" if value & 1 else "++")
        return Lm(ptr, value & 0xF)
    if kind == UR_XFR:
        return Xfer("out" if is_dst else "in", value & 0x7F)
    raise EncodeError(f"unknown unrestricted operand {value:#x}")


def decode_re(value: int, bank: str, i8: int, is_dst: bool = False) -> Operand:
    if value & RE_IMM:
        if is_dst:
            return NONE
        return Imm((value & 0x1F) | ((value >> 1) & 0x60) | (i8 << 7))
    if value & RE_XFR:
        return Xfer("out" if is_dst else "in", value & 0x1F)
    if value & 0xF0 == RE_LM:
        return Lm((value >> 3) & 1, value & 7)
    if value < 0x20:
        return Gpr(bank, value)
    raise EncodeError(f"unknown restricted operand {value:#x}")


def _with_ext(op: Operand, ext: int) -> Operand:
    return Lm(op.ptr | ext << 1, op.offset, op.mode) if isinstance(op, Lm) else op


def _needs_swap(a: Operand, b: Operand) -> bool:
    return (isinstance(a, Gpr) and a.bank == "B") or (isinstance(b, Gpr) and b.bank == "A")


def _check_pair(a: Operand, b: Operand) -> None:
    if isinstance(a, Gpr) and isinstance(b, Gpr) and a.bank == b.bank:
        raise EncodeError(f"operands {a} and {b} are in the same bank")
    if a is not NONE and b is not NONE and a.cls == b.cls:
        raise EncodeError(f"operands {a} and {b} are of the same class ({a.cls})")


def place_sources(a: Operand, b: Operand, restricted: bool, has_i8: bool = True):
    """(A field, B field, swap, i8, src_lmextn) for two sources."""
    _check_pair(a, b)
    swap = _needs_swap(a, b)
    first, second = (b, a) if swap else (a, b)
    if restricted:
        fa, i8a = re_operand(first, False, has_i8)
        fb, i8b = re_operand(second, False, has_i8)
        i8 = i8a | i8b
    else:
        fa, fb, i8 = ur_operand(first, False), ur_operand(second, False), 0
    return fa, fb, int(swap), i8, _lm_ext(a) | _lm_ext(b)


def _dst_bits(dst: Operand) -> tuple[int, int]:
    """(dst_ab, wr_ab)"""
    if isinstance(dst, Gpr):
        return int(dst.bank == "B"), int(dst.bank == "AB")
    return 0, 0


def _dst_operand(value: int, dst_ab: int, wr_ab: int, ext: int, restricted: bool) -> Operand:
    bank = "AB" if wr_ab else ("B" if dst_ab else "A")
    op = decode_re(value, bank, 0, True) if restricted else decode_ur(value, bank, True)
    return _with_ext(op, ext)


def _sources(fa: int, fb: int, sw: int, i8: int, ext: int, restricted: bool) -> tuple[Operand, Operand]:
    if restricted:
        first, second = decode_re(fa, "A", i8), decode_re(fb, "B", i8)
    else:
        first, second = decode_ur(fa, "A"), decode_ur(fb, "B")
    first, second = _with_ext(first, ext), _with_ext(second, ext)
    return (second, first) if sw else (first, second)


def _pack(layout: dict, **values: int) -> int:
    word = layout.get("base", 0)
    for name, value in values.items():
        word = put(word, layout[name], value, name)
    return word


def _unpack(layout: dict, word: int) -> dict[str, int]:
    return {name: get(word, mask) for name, mask in layout.items() if name != "base"}


# -- per kind ----------------------------------------------------------------------------------------
def _shift_fields(shift: Shift | None) -> tuple[int, int]:
    """(shift class, 5-bit amount); left shifts by n are encoded as 32 - n (bpf/jit.c __emit_shf)."""
    if shift is None or (shift.kind == ">>rot" and shift.amount == 0):
        return 0, 0
    if shift.amount is None:
        return SHIFT_CLASS[shift.kind], 0
    if shift.amount == 0:
        raise EncodeError(f"shift {shift} by 0 has no encoding (use no shift)")
    amount = 32 - shift.amount if shift.kind == "<<" else shift.amount
    return SHIFT_CLASS[shift.kind], amount


def _shift_from(sc: int, amount: int) -> Shift | None:
    kind = {0: ">>rot", 1: ">>", 2: "<<", 3: ">>dbl"}[sc]
    if sc == 0:
        return Shift(">>rot", amount) if amount else None
    if amount == 0:
        return Shift(kind, None)
    return Shift(kind, 32 - amount if kind == "<<" else amount)


def _enc_alu(i: NfpInsn) -> int:
    a = NONE if i.op in ALU_IGNORES_A else i.a
    fa, fb, sw, _, src_ext = place_sources(a, i.b, False)
    dst_ab, wr_ab = _dst_bits(i.dst)
    return _pack(ALU, a=fa, b=fb, dst=ur_operand(i.dst, True), sw=sw, op=ALU_OPS[i.op][0], dst_ab=dst_ab,
                 wr_ab=wr_ab, src_lmextn=src_ext, dst_lmextn=_lm_ext(i.dst))


def _dec_alu(w: int) -> NfpInsn:
    f = _unpack(ALU, w)
    op = ALU_BY_CODE.get(f["op"])
    if op is None:
        raise EncodeError(f"unknown alu operation code {f['op']:#x}")
    a, b = _sources(f["a"], f["b"], f["sw"], 0, f["src_lmextn"], False)
    if op in ALU_IGNORES_A:
        a = NONE
    return NfpInsn("alu", dst=_dst_operand(f["dst"], f["dst_ab"], f["wr_ab"], f["dst_lmextn"], False), a=a, op=op, b=b)


def _enc_shf(i: NfpInsn) -> int:
    fa, fb, sw, i8, src_ext = place_sources(i.a, i.b, True)
    dst_ab, wr_ab = _dst_bits(i.dst)
    dst, _ = re_operand(i.dst, True)
    sc, amount = _shift_fields(i.shift)
    return _pack(SHF, a=fa, b=fb, sw=sw, i8=i8, sc=sc, shift=amount, dst=dst, op=SHF_OPS[i.op], dst_ab=dst_ab,
                 wr_ab=wr_ab, src_lmextn=src_ext, dst_lmextn=_lm_ext(i.dst))


def _dec_shf(w: int) -> NfpInsn:
    f = _unpack(SHF, w)
    a, b = _sources(f["a"], f["b"], f["sw"], f["i8"], f["src_lmextn"], True)
    op = SHF_BY_CODE.get(f["op"])
    if op is None:
        raise EncodeError(f"unknown shifter operation code {f['op']}")
    shift = _shift_from(f["sc"], f["shift"]) or Shift(">>rot", 0)
    if shift.kind != ">>dbl" and op in ("B", "ASR"):
        a = NONE
    return NfpInsn("alu_shf", dst=_dst_operand(f["dst"], f["dst_ab"], f["wr_ab"], f["dst_lmextn"], True), a=a,
                   op=op, b=b, shift=shift)


def _enc_ldf(i: NfpInsn) -> int:
    fa, fb, sw, i8, src_ext = place_sources(i.dst, i.b, True)
    sc, amount = _shift_fields(i.shift)
    return _pack(LDF, a=fa, b=fb, sw=sw, i8=i8, sc=sc, shift=amount, zf=int(i.width == "w_clr"), bmask=i.value,
                 wr_ab=int(isinstance(i.dst, Gpr) and i.dst.bank == "AB"), src_lmextn=src_ext,
                 dst_lmextn=_lm_ext(i.dst))


def _dec_ldf(w: int) -> NfpInsn:
    f = _unpack(LDF, w)
    dst, b = _sources(f["a"], f["b"], f["sw"], f["i8"], f["src_lmextn"], True)
    if f["wr_ab"] and isinstance(dst, Gpr):
        dst = Gpr("AB", dst.index)
    return NfpInsn("ld_field", dst=dst, b=b, value=f["bmask"], width="w_clr" if f["zf"] else "",
                   shift=_shift_from(f["sc"], f["shift"]))


def _immed_target(i: NfpInsn) -> int:
    if i.target is not None and not isinstance(i.target, int):
        raise EncodeError(f"immed of unresolved label {i.target!r}")
    return i.target if i.target is not None else i.value


def _enc_immed(i: NfpInsn) -> int:
    value = _immed_target(i)
    width_code, byte_shift, _ = IMMED_FORMS[i.width]
    shift = (i.shift.amount // 8 if i.shift else 0) if byte_shift is None else byte_shift
    dst = Gpr("A", i.dst.index) if isinstance(i.dst, Gpr) and i.dst.bank == "AB" else i.dst
    lo = Imm(value & 0xFF)
    if isinstance(dst, Gpr) and dst.bank == "B":
        fa, fb = ur_operand(lo, False), ur_operand(dst, True)
    else:
        fa, fb = ur_operand(dst, True), ur_operand(lo, False)
    return _pack(IMMED, a=fa, b=fb, imm=value >> 8, width=width_code, inv=int(i.invert), shift=shift,
                 wr_ab=int(isinstance(i.dst, Gpr) and i.dst.bank == "AB"), dst_lmextn=_lm_ext(i.dst),
                 src_lmextn=_lm_ext(i.dst))


def _dec_immed(w: int) -> NfpInsn:
    f = _unpack(IMMED, w)
    a_is_imm = f["a"] & 0x300 == UR_IMM
    b_is_imm = f["b"] & 0x300 == UR_IMM
    if a_is_imm and b_is_imm and f["a"] == f["b"] == UR_IMM and not (f["imm"] or f["width"] or f["inv"] or f["shift"]):
        return NfpInsn("nop")
    if a_is_imm and not b_is_imm:
        dst, lo = decode_ur(f["b"], "B", True), f["a"] & 0xFF
    else:
        dst, lo = decode_ur(f["a"], "A", True), f["b"] & 0xFF
    dst = _with_ext(dst, f["dst_lmextn"])
    if f["wr_ab"] and isinstance(dst, Gpr):
        dst = Gpr("AB", dst.index)
    width = next(name for name, (code, bs, _) in IMMED_FORMS.items()
                 if code == f["width"] and (bs is None or bs == f["shift"]))
    shift = Shift("<<", 8 * f["shift"]) if width == "" and f["shift"] else None
    return NfpInsn("immed", dst=dst, value=lo | f["imm"] << 8, width=width, invert=bool(f["inv"]), shift=shift)


def _mul_codes(step: str) -> tuple[int, int]:
    if step == "start":
        return MUL_TYPES["start"], 0
    kind, _, which = step.partition("_")
    return MUL_TYPES[kind], MUL_STEPS[which]


def _enc_mul(i: NfpInsn) -> int:
    mtype, mstep = _mul_codes(i.op)
    if i.op.endswith(("last", "last2")):
        # jit.c emit_mul: the destination goes to the A field whatever its bank (dst_ab says which)
        dst_ab, wr_ab = _dst_bits(i.dst)
        dst = ur_operand(Gpr("A", i.dst.index) if isinstance(i.dst, Gpr) else i.dst, True)
        return _pack(MUL, a=dst, b=ur_operand(i.b, False), type=mtype, step=mstep, dst_ab=dst_ab, wr_ab=wr_ab,
                     dst_lmextn=_lm_ext(i.dst))
    fa, fb, sw, _, src_ext = place_sources(i.a, i.b, False)
    return _pack(MUL, a=fa, b=fb, sw=sw, type=mtype, step=mstep, src_lmextn=src_ext)


def _dec_mul(w: int) -> NfpInsn:
    f = _unpack(MUL, w)
    mtype = {v: k for k, v in MUL_TYPES.items()}[f["type"]]
    step = {v: k for k, v in MUL_STEPS.items()}.get(f["step"])
    op = "start" if mtype == "start" else f"{mtype}_{step}"
    if step in ("last", "last2") and mtype != "start":
        bank = "AB" if f["wr_ab"] else ("B" if f["dst_ab"] else "A")
        dst = decode_ur(f["a"], bank, True)
        other = decode_ur(f["b"], "B")
        return NfpInsn("mul_step", dst=_with_ext(dst, f["dst_lmextn"]), op=op,
                       b=NONE if other == Gpr("B", 0) else other)
    a, b = _sources(f["a"], f["b"], f["sw"], 0, f["src_lmextn"], False)
    return NfpInsn("mul_step", a=a, op=op, b=b)


def _address(i: NfpInsn) -> int:
    if not isinstance(i.target, int):
        raise EncodeError(f"branch to unresolved label {i.target!r}")
    return i.target


def _enc_br(i: NfpInsn) -> int:
    addr = _address(i)
    mask = CONDITIONS[i.op][0]
    return _pack(BR, mask=mask, ev_pip=int(i.op != "br"), css=BR_CSS_NONE, defer=i.defer,
                 addr_lo=addr & 0x1FFF, addr_hi=addr >> 13)


def _dec_br(w: int) -> NfpInsn:
    f = _unpack(BR, w)
    op = COND_BY_MASK.get(f["mask"])
    if op is None:
        raise EncodeError(f"unknown branch mask {f['mask']:#x}")
    return NfpInsn("br", op=op, target=f["addr_lo"] | f["addr_hi"] << 13, defer=f["defer"])


def _enc_br_bit(i: NfpInsn) -> int:
    # bpf/jit.c emit_br_bit_relo: the bit is given as a rotate-right amount of bit + 1
    fa, fb, _, _, src_ext = place_sources(i.a, Imm(i.value + 1), True, has_i8=False)
    addr = _address(i)
    return _pack(BR_BIT, a=fa, b=fb, bv=int(i.op == "br_bset"), defer=i.defer, addr_lo=addr & 0x1FFF,
                 addr_hi=addr >> 13, src_lmextn=src_ext)


def _dec_br_bit(w: int) -> NfpInsn:
    f = _unpack(BR_BIT, w)
    a_imm = bool(f["a"] & RE_IMM)
    reg = decode_re(f["b"], "B", 0) if a_imm else decode_re(f["a"], "A", 0)
    bit = decode_re(f["a"] if a_imm else f["b"], "A", 0).value - 1
    return NfpInsn("br_bit", op="br_bset" if f["bv"] else "br_bclr", a=_with_ext(reg, f["src_lmextn"]), value=bit,
                   target=f["addr_lo"] | f["addr_hi"] << 13, defer=f["defer"])


def _enc_rtn(i: NfpInsn) -> int:
    """rtn[reg] and jump[reg, label]: the branch-on-ALU form; the label (0 for rtn) is the
    immediate operand's byte plus IMM_HI (so rtn[r] is jump[r, 0])."""
    label = _address(i) if i.kind == "jump" else 0
    fa, fb, _, _, src_ext = place_sources(i.a, Imm(label & 0xFF), False)
    return _pack(BR_ALU, a=fa, b=fb, defer=i.defer, imm_hi=label >> 8, src_lmextn=src_ext)


def _dec_rtn(w: int) -> NfpInsn:
    f = _unpack(BR_ALU, w)
    a_imm = f["a"] & 0x300 == UR_IMM
    reg = decode_ur(f["b"], "B") if a_imm else decode_ur(f["a"], "A")
    label = ((f["a"] if a_imm else f["b"]) & 0xFF) | f["imm_hi"] << 8
    kind = "jump" if label else "rtn"
    return NfpInsn(kind, a=_with_ext(reg, f["src_lmextn"]), defer=f["defer"], target=label if label else None)


def _count_field(i: NfpInsn) -> int:
    if i.op == "add":  # mem_xadd: 0 for a 32-bit add, 4 for a 64-bit one
        if i.value not in (1, 2):
            raise EncodeError(f"add of {i.value} words (1 or 2)")
        return (i.value - 1) << 2
    limit = MEM_INDIRECT_MAX if i.indirect else MEM_DIRECT_MAX
    if not 1 <= i.value <= limit:
        raise EncodeError(f"memory command count {i.value} outside 1..{limit}"
                          + ("" if i.indirect else " (longer transfers take an indirect length)"))
    return (i.value - 1) & 7


def _enc_mem(i: NfpInsn) -> int:
    token, tgt, _, _ = MEM_COMMANDS[i.op]
    fa, fb, _, _, _ = place_sources(i.a, i.b, True, has_i8=False)
    # no swap bit: the address is the sum of the two, decoded in (A field, B field) order
    if not isinstance(i.dst, Xfer):
        raise EncodeError(f"memory command transfer operand {i.dst} is not a transfer register")
    if i.sync == "sig_done":
        if i.defer:
            raise EncodeError("sig_done takes no defer slots")
        ctx = CTX_SWAP_MODES["sig_done"]
    else:
        ctx = i.defer
    return _pack(CMD, a=fa, b=fb, ctx=ctx, token=token, xfer=i.dst.index, cnt=_count_field(i), sig=i.sig, tgt=tgt,
                 indir=int(i.indirect), mode=MEM_MODES[i.mode])


def _dec_mem(w: int) -> NfpInsn:
    f = _unpack(CMD, w)
    op = MEM_BY_CODE.get((f["token"], f["tgt"]))
    if op is None:
        raise EncodeError(f"unknown memory command (token {f['token']}, target {f['tgt']:#x})")
    mode = next((name for name, code in MEM_MODES.items() if code == f["mode"]), None)
    if mode is None:
        raise EncodeError(f"unknown memory command mode {f['mode']}")
    direction = MEM_COMMANDS[op][2]
    a = decode_re(f["a"], "A", 0)
    b = decode_re(f["b"], "B", 0)
    sync, defer = ("sig_done", 0) if f["ctx"] == 3 else ("ctx_swap", f["ctx"])
    count = (f["cnt"] >> 2) + 1 if op == "add" else f["cnt"] + 1
    return NfpInsn("mem", op=op, dst=Xfer("in" if direction == "read" else "out", f["xfer"]), a=a, b=b,
                   value=count, sync=sync, sig=f["sig"], defer=defer, mode=mode, indirect=bool(f["indir"]))


def _enc_csr_wr(i: NfpInsn) -> int:
    if isinstance(i.b, Imm):  # jit.c emit_csr_wr: an immediate goes to both fields
        field = ur_operand(i.b, False)
        return _pack(LCSR, a=field, b=field, write=1, addr=CSRS[i.op] // 4)
    fa, fb, _, _, src_ext = place_sources(i.b, Imm(0), False)
    return _pack(LCSR, a=fa, b=fb, write=1, addr=CSRS[i.op] // 4, src_lmextn=src_ext)


def _enc_csr_rd(i: NfpInsn) -> int:
    return _pack(LCSR, addr=CSRS[i.op] // 4)


def _dec_csr(w: int) -> NfpInsn:
    f = _unpack(LCSR, w)
    name = CSR_BY_ADDR.get(f["addr"] * 4)
    if name is None:
        raise EncodeError(f"unknown local CSR {f['addr'] * 4:#x}")
    if not f["write"]:
        return NfpInsn("csr_rd", op=name)
    a_imm = f["a"] & 0x300 == UR_IMM
    if a_imm and f["a"] == f["b"]:
        return NfpInsn("csr_wr", op=name, b=Imm(f["a"] & 0xFF))
    src = decode_ur(f["b"], "B") if a_imm else decode_ur(f["a"], "A")
    return NfpInsn("csr_wr", op=name, b=_with_ext(src, f["src_lmextn"]))


def _enc_ctx_arb(i: NfpInsn) -> int:
    return _pack(CARB, sigs=1 << i.sig)


def _dec_ctx_arb(w: int) -> NfpInsn:
    sigs = get(w, CARB["sigs"])
    return NfpInsn("ctx_arb", sig=sigs.bit_length() - 1)


def _enc_nop(i: NfpInsn) -> int:
    return _pack(IMMED, a=UR_IMM, b=UR_IMM)


ENCODERS = {
    "alu": _enc_alu, "alu_shf": _enc_shf, "ld_field": _enc_ldf, "immed": _enc_immed, "mul_step": _enc_mul,
    "br": _enc_br, "br_bit": _enc_br_bit, "rtn": _enc_rtn, "jump": _enc_rtn, "mem": _enc_mem, "csr_wr": _enc_csr_wr,
    "csr_rd": _enc_csr_rd, "ctx_arb": _enc_ctx_arb, "nop": _enc_nop,
}

# (mask, base, decoder): tried in order; the top bits (39..34) tell the groups apart
# (alu and shf only by 39..37: their bit 36 is DST_AB).
DECODERS = [
    (0x0F800000000, 0x0D800000000, _dec_br),
    (0x0F800000000, 0x0D000000000, _dec_br_bit),
    (0x0F800000000, 0x0E800000000, _dec_rtn),
    (0x0F800000000, 0x0E000000000, _dec_ctx_arb),
    (0x0FC00000000, 0x0FC00000000, _dec_csr),
    (0x0FC00000000, 0x0F800000000, _dec_mul),
    (0x0F800000000, 0x0F000000000, _dec_immed),
    (0x0F800000000, 0x0C000000000, _dec_ldf),
    (0x0E000000000, 0x0A000000000, _dec_alu),
    (0x0E000000000, 0x08000000000, _dec_shf),
    (0x08000000000, 0x00000000000, _dec_mem),
]


def encode(insn: NfpInsn) -> int:
    word = ENCODERS[insn.kind](insn)
    if word & ~USTORE_VALID:
        raise EncodeError(f"{insn.kind} encodes as {word:#x}, outside the ustore's 46 bits")
    return word


def decode(word: int) -> NfpInsn:
    for mask, base, decoder in DECODERS:
        if word & mask == base:
            return decoder(word)
    raise EncodeError(f"no NFP instruction encodes as {word:#018x}")
