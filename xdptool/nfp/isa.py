"""The NFP microengine instruction set as data: each instruction form declared once.

One `NfpInsn` dataclass carries every instruction.  `FORMS` declares, once per
instruction form, its text syntax, its word layout (a token of tokens.py), and
how each attribute maps onto the token's fields; operands are slots that say
whether they are read or written and in which operand field (registers.py:
unrestricted or restricted, with their limits).  The encoder and decoder
(encoding.py), printer, assembler, the def/use sets liveness and allocation use,
and the executor's static operand rules all walk these declarations
(forms.py says how).

Facts are from the Linux NFP driver (drivers/net/ethernet/netronome/nfp/
nfp_asm.h, nfp_asm.c, bpf/jit.c): the ALU operation codes, shift classes,
branch masks, immed widths and shifts, mul_step types and steps, memory
command targets.  Where the public sources are silent the choice is ours and
marked [inv] (see /work/shared/nfp-facts.md): alu op codes for `+8`/`B-A`;
ctx_arb's signal mask in bits 15:0 (bit 0 = voluntary); the LCSR address field
holds the CSR address / 4; `nop` is the driver's `immed` with no destination
and no value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from . import tokens
from .forms import (
    ZERO,
    Address,
    BothBanks,
    BothFields,
    Const,
    Dest,
    Enum,
    Flag,
    Form,
    Immediate,
    Number,
    ShiftField,
    Slot,
    Source,
    Sources,
    Special,
    WithImmediate,
    address,
    mem_xfer_problems,
)
from .registers import (
    MASK32,
    NO_SHIFT,
    NONE,
    RESTRICTED,
    RESTRICTED_I8,
    UNRESTRICTED,
    Gpr,
    Imm,
    Lm,
    Operand,
    Shift,
    VReg,
    Xfer,
    is_reg,
)
from .tokens import EncodeError

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
ALU_IGNORES_A = {"B", "~B"}
ALU_ARITH = {"+", "+8", "+16", "+carry", "-", "-carry", "B-A"}  # set C and V

# -- shifts (enum shf_sc, enum shf_op) -------------------------------------------------------
SHF_OPS = {"B": 0, "AND": 2, "OR": 5, "ASR": 6}  # ASR: fill bit = bit 31 of the previous ALU result
SHF_IGNORES_A = frozenset({"B", "ASR"})  # shift the second source alone (unless a funnel of both)
SHIFT_CLASSES = {">>rot": 0, ">>": 1, "<<": 2, ">>dbl": 3}  # enum shf_sc

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
BR_CSS_NONE = 2
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
MEM_LITTLE_ENDIAN = {"write8_swap", "write32_swap", "read32_swap", "read32_le", "read_le", "read_swap_le"}
MEM_DIRECT_MAX = 8  # the 3-bit count field (OP_CMD_CNT): longer transfers take an indirect length
MEM_MAX_BYTES = 4 * MEM_DIRECT_MAX  # one direct read32 moves at most 32 bytes (nfp-facts)
MEM_INDIRECT_MAX = 32  # CMD_OV_LEN, 5 bits of the previous ALU result (nfp_cpp_memcpy: <= 128 B)
MEM_MODES = {"": 4, "40b_AB": 0, "40b_BA": 1}  # enum cmd_mode: "" is CMD_MODE_32b
# the previous ALU result overriding a command (nfp_asm.h CMD_OVE_LEN, CMD_OV_LEN, CMD_OVE_DATA)
CMD_OVE_LEN, CMD_OV_LEN_SHIFT, CMD_OV_LEN_MASK, CMD_OVE_DATA_SHIFT = 1 << 7, 8, 0x1F, 3
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
CSR_WRITE_LATENCY = 3  # local CSR write -> use: 3 cycles (nfp-facts; the JIT's wrp_nops(3))


# == the forms ===================================================================================
def shf_reads_b_only(op: str, shift: Shift | None) -> bool:
    """Whether an alu_shf reads only its second source (its first encodes as "--")."""
    return op in SHF_IGNORES_A and (shift is None or shift.kind != ">>dbl")


def _immed_number(insn) -> int:
    if insn.target is not None and not isinstance(insn.target, int):
        raise EncodeError(f"immed of unresolved label {insn.target!r}")
    return insn.target if insn.target is not None else insn.value


def _setter(attr: str, offset: int = 0) -> Callable[[dict, int], None]:
    def put(attrs: dict, value: int) -> None:
        attrs[attr] = value + offset

    return put


IMMED_VALUE = Immediate(_immed_number, _setter("value"))
LABEL = Immediate(lambda insn: address(insn.target), _setter("target"))
BIT = Immediate(lambda insn: insn.value + 1, _setter("value", -1))  # jit.c emit_br_bit_relo: rotate by bit + 1


def _byte_shift_encode(insn, fields: dict) -> None:
    fields["shift"] = insn.shift.amount // 8 if insn.shift else 0


def _byte_shift_decode(fields: dict, attrs: dict) -> None:
    if fields["shift"]:
        attrs["shift"] = Shift("<<", 8 * fields["shift"])


# Memory commands as jit.c __emit_cmd: the 3-bit count holds count - 1 (a longer transfer is
# `indirect`: the previous ALU result carries the length, CMD_OVE_LEN, and the field keeps the low
# 3 bits), except `add`, whose count field is 0 or 4 for a 32- or 64-bit add (mem_xadd: is64 << 2);
# the ctx field holds the defer count for ctx_swap and 3 for sig_done.
def _count_problems(insn):
    if insn.op == "add":
        if insn.value not in (1, 2):
            yield f"add of {insn.value} words (1 or 2)"
        return
    limit = MEM_INDIRECT_MAX if insn.indirect else MEM_DIRECT_MAX
    if not 1 <= insn.value <= limit:
        yield (f"memory command count {insn.value} outside 1..{limit} (at most {MEM_DIRECT_MAX}, "
               f"{MEM_INDIRECT_MAX} with an indirect length)")


def _count_encode(insn, fields: dict) -> None:
    fields["cnt"] = (insn.value - 1) << 2 if insn.op == "add" else (insn.value - 1) & 7


def _count_decode(fields: dict, attrs: dict) -> None:
    attrs["value"] = (fields["cnt"] >> 2) + 1 if attrs["op"] == "add" else fields["cnt"] + 1


def _sync_problems(insn):
    if insn.sync == "sig_done" and insn.defer:
        yield "sig_done takes no defer slots"
    elif insn.defer >= CTX_SWAP_MODES["sig_done"]:
        yield f"{insn.defer} defer slots after a memory command (at most {CTX_SWAP_MODES['sig_done'] - 1})"


def _sync_encode(insn, fields: dict) -> None:
    fields["ctx"] = CTX_SWAP_MODES["sig_done"] if insn.sync == "sig_done" else insn.defer


def _sync_decode(fields: dict, attrs: dict) -> None:
    done = fields["ctx"] == CTX_SWAP_MODES["sig_done"]
    attrs["sync"], attrs["defer"] = ("sig_done", 0) if done else ("ctx_swap", fields["ctx"])


def _xfer_problems(insn):
    command = MEM_COMMANDS.get(insn.op)
    return mem_xfer_problems(insn, command[2]) if command else iter(())


def _xfer_encode(insn, fields: dict) -> None:
    fields["xfer"] = insn.dst.index


def _xfer_decode(fields: dict, attrs: dict) -> None:
    attrs["dst"] = Xfer("in" if MEM_COMMANDS[attrs["op"]][2] == "read" else "out", fields["xfer"])


def _sigs_encode(insn, fields: dict) -> None:
    fields["sigs"] = 1 << insn.sig


def _sigs_decode(fields: dict, attrs: dict) -> None:
    attrs["sig"] = fields["sigs"].bit_length() - 1


UR, RE, RE8 = UNRESTRICTED, RESTRICTED, RESTRICTED_I8
MUL_OPS = {"start": (MUL_TYPES["start"], 0)} | {
    f"{mtype}_{step}": (code, MUL_STEPS[step]) for mtype, code in MUL_TYPES.items() if mtype != "start"
    for step in MUL_STEPS}
_MUL_LAST = ("last", "last2")
CSR_ADDRESS = Enum("op", "addr", {name: addr // 4 for name, addr in CSRS.items()}, "local CSR")  # [inv] / 4

# Per token, decoding tries its forms in this order (nop before immed, rtn before jump).
FORMS: tuple[Form, ...] = (
    Form("alu", "alu[{dst}, {a}, {op}, {b}]", tokens.ALU,
         Dest(UR), Enum("op", "op", {name: code for name, (code, _) in ALU_OPS.items()}, "alu operation"),
         Sources(Slot("a", "r", UR), Slot("b", "r", UR), swap="sw", ext="src_lmextn",
                 unused_first=lambda v: v["op"] in ALU_IGNORES_A)),
    Form("alu_shf", "alu_shf[{dst}, {a}, {op}, {b}, {shift}]", tokens.SHF,
         Dest(RE8), Enum("op", "op", SHF_OPS, "shifter operation"), ShiftField(SHIFT_CLASSES, NO_SHIFT),
         Sources(Slot("a", "r", RE8), Slot("b", "r", RE8), swap="sw", i8="i8", ext="src_lmextn",
                 unused_first=lambda v: shf_reads_b_only(v["op"], v["shift"]))),
    *(Form("ld_field", f"{name}[{{dst}}, {{value:mask}}, {{b}}, {{shift?}}]", tokens.LDF,
           Const("zf", int(clear)),
           Sources(Slot("dst", "w" if clear else "rw", RE8, required=True), Slot("b", "r", RE8),
                   swap="sw", i8="i8", ext="src_lmextn"),
           BothBanks(), Number("value", "bmask"), ShiftField(SHIFT_CLASSES, None),
           fixed={"width": "w_clr" if clear else ""})
      for name, clear in (("ld_field", False), ("ld_field_w_clr", True))),
    # the driver's nop: an immed with no destination and no value
    Form("nop", "nop", tokens.IMMED, *(Const(f, v) for f, v in
                                       dict(a=UR.IMM, b=UR.IMM, imm=0, width=0, inv=0, shift=0).items())),
    *(Form("immed", f"immed{'_' + width if width else ''}[{{dst}}, {{value:immed}}"
           + (", {shift:byteshift?}]" if byte_shift is None else "]"), tokens.IMMED,
           Const("width", code),
           Special(_byte_shift_encode, _byte_shift_decode) if byte_shift is None else Const("shift", byte_shift),
           Flag("invert", "inv"),
           WithImmediate(Slot("dst", "rw" if width else "w", UR), IMMED_VALUE, hi="imm",
                         ext=("dst_lmextn", "src_lmextn"), both="wr_ab", dst=True),
           fixed={"width": width}, value_bits=bits)
      for width, (code, byte_shift, bits) in IMMED_FORMS.items()),
    Form("mul_step", "mul_step[{a}, {b}, {op}]", tokens.MUL,
         Enum("op", ("type", "step"), {k: v for k, v in MUL_OPS.items() if not k.endswith(_MUL_LAST)}, "mul_step"),
         Sources(Slot("a", "r", UR), Slot("b", "r", UR), swap="sw", ext="src_lmextn")),
    # jit.c emit_mul: the destination goes to the A field whatever its bank (DST_AB says which)
    Form("mul_step", "mul_step[{dst}, {b}, {op}]", tokens.MUL,
         Enum("op", ("type", "step"), {k: v for k, v in MUL_OPS.items() if k.endswith(_MUL_LAST)}, "mul_step"),
         Dest(UR, field="a"), Source(UR)),
    *(Form("br", f"{cond}[{{target}}]{{defer}}", tokens.BR,
           Const("mask", mask), Const("ev_pip", int(cond != "br"), strict=False),
           Const("css", BR_CSS_NONE, strict=False), Number("defer", "defer"), Address(),
           fixed={"op": cond}, branch=True, max_defer=MAX_DEFER["br" if cond == "br" else "cond"])
      for cond, (mask, _) in CONDITIONS.items()),
    *(Form("br_bit", f"{name}[{{a}}, {{value}}, {{target}}]{{defer}}", tokens.BR_BIT,
           Const("bv", bv), WithImmediate(Slot("a", "r", RE), BIT), Number("defer", "defer"), Address(),
           fixed={"op": name}, branch=True, max_defer=MAX_DEFER["cond"])
      for name, bv in (("br_bset", 1), ("br_bclr", 0))),
    # rtn[reg] is jump[reg, 0]: the branch-on-ALU form, the label in the immediate and IMM_HI
    Form("rtn", "rtn[{a}]{defer}", tokens.BR_ALU,
         WithImmediate(Slot("a", "r", UR), ZERO, hi="imm_hi"), Number("defer", "defer"),
         branch=True, max_defer=MAX_DEFER["cond"]),
    Form("jump", "jump[{a}, {target}]{defer}", tokens.BR_ALU,
         WithImmediate(Slot("a", "r", UR), LABEL, hi="imm_hi"), Number("defer", "defer"),
         branch=True, max_defer=MAX_DEFER["cond"]),
    # no swap bit: the address is the sum of the two, decoded in (A field, B field) order
    Form("mem", "mem[{op}, {dst}, {a}, {b}, {value}, {mode:options?}]{sync}{defer}", tokens.CMD,
         Enum("op", ("token", "tgt"), {name: (tok, tgt) for name, (tok, tgt, _, _) in MEM_COMMANDS.items()},
              "memory command"),
         Sources(Slot("a", "r", RE), Slot("b", "r", RE)),
         Special(_xfer_encode, _xfer_decode, _xfer_problems),
         Special(_count_encode, _count_decode, _count_problems),
         Special(_sync_encode, _sync_decode, _sync_problems), Number("sig", "sig"),
         Flag("indirect", "indir"), Enum("mode", "mode", MEM_MODES, "memory command mode"),
         sync_modes=tuple(CTX_SWAP_MODES)),
    Form("csr_rd", "local_csr_rd[{op:csr}]", tokens.LCSR, Const("write", 0), CSR_ADDRESS),
    # jit.c emit_csr_wr: an immediate goes to both fields
    Form("csr_wr", "local_csr_wr[{op:csr}, {b}]", tokens.LCSR, Const("write", 1), CSR_ADDRESS, BothFields(UR)),
    Form("csr_wr", "local_csr_wr[{op:csr}, {b}]", tokens.LCSR, Const("write", 1), CSR_ADDRESS,
         WithImmediate(Slot("b", "r", UR), ZERO)),
    Form("ctx_arb", "ctx_arb[{sig:signal}]", tokens.CARB, Special(_sigs_encode, _sigs_decode)),
)

KINDS: dict[str, tuple[Form, ...]] = {}
for _form in FORMS:
    KINDS[_form.kind] = KINDS.get(_form.kind, ()) + (_form,)
BRANCH_KINDS = frozenset(f.kind for f in FORMS if f.branch)
_SOLE = {kind: forms[0] for kind, forms in KINDS.items() if len(forms) == 1}
# the attribute that picks among a kind's forms (their `fixed` key): immed and ld_field by width,
# br and br_bit by op; mul_step and local_csr_wr by what their parts accept
_KEY = {kind: next(iter(forms[0].fixed), None) for kind, forms in KINDS.items() if len(forms) > 1}
_BY_KEY: dict[str, dict] = {kind: {} for kind in _KEY}
for _form in FORMS:
    if _form.kind in _KEY:
        _BY_KEY[_form.kind].setdefault(_form.fixed.get(_KEY[_form.kind]), []).append(_form)


def form_of(insn: "NfpInsn") -> Form:
    """The form that holds `insn`: the kind's only one, else picked by the fixed attribute, then
    by what the parts accept."""
    form = _SOLE.get(insn.kind)
    if form is not None:
        return form
    if insn.kind not in _KEY:
        raise EncodeError(f"unknown NFP instruction kind {insn.kind!r}")
    key = _KEY[insn.kind]
    value = getattr(insn, key) if key else None
    forms = _BY_KEY[insn.kind].get(value)
    if forms is None:
        raise EncodeError(f"no {insn.kind} form with {key} {value!r}")
    if len(forms) > 1:
        return next((f for f in forms if f.matches(insn)), forms[0])
    return forms[0]


def problems(insn: "NfpInsn", regs_per_bank: int | None = None, operands: bool = True):
    """The rules `insn` breaks (see Form.problems); the encoder and the executor share them."""
    return form_of(insn).problems(insn, regs_per_bank, operands)


def sources_swapped(insn: "NfpInsn") -> bool:
    """Whether the word holds the two sources as (B, A) (the SW bit)."""
    sources = form_of(insn).sources
    return sources is not None and sources.swapped(insn)


@dataclass(eq=False)
class NfpInsn:
    """One NFP instruction (its form in `FORMS` says which fields it uses).

    `op`: ALU operation, shifter operation, branch condition, mul_step
    "<type>_<step>", memory command or CSR name.  `value`: immed constant,
    ld_field byte mask, memory byte/word count, tested bit, CSR address.
    `width`: immed form ("", "w0", "w1", "b0".."b3") or "w_clr" for ld_field.
    `target`: branch label (str) or address (int).  `sync`/`sig`: how a memory
    command signals; `mode`, `indirect`: its addressing and length override.
The rest is metadata for listings and analyses.
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
    def form(self) -> Form:
        return form_of(self)

    spec = form  # what the allocator reads (`pair`)

    # -- def/use, for liveness and allocation --------------------------------------------
    def uses(self) -> list:
        out = [getattr(self, f) for f in form_of(self).reads]
        return [r for r in out if is_reg(r)] + list(self.extra_uses)

    def defs(self) -> list:
        out = [getattr(self, f) for f in form_of(self).writes]
        return [r for r in out if is_reg(r)] + list(self.extra_defs)

    def operand_fields(self) -> list[str]:
        return form_of(self).operand_fields

    def replace_regs(self, mapping: Callable[[Operand], Operand]) -> None:
        for name in self.operand_fields():
            setattr(self, name, mapping(getattr(self, name)))
        self.extra_uses = tuple(mapping(r) for r in self.extra_uses)
        self.extra_defs = tuple(mapping(r) for r in self.extra_defs)

    # -- control flow ---------------------------------------------------------------------
    @property
    def is_branch(self) -> bool:
        return self.kind in BRANCH_KINDS

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
