"""The verifier log in the kernel's words (kernel/bpf/disasm.c, kernel/bpf/log.c).

Instructions print as the kernel's print_bpf_insn does (`(61) r2 = *(u32 *)(r1 +0)`),
register states as print_reg_state does in 6.x (`pkt(off=14,r=14)`,
`scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))`).
"""

from __future__ import annotations

from ..ebpf.insn import Instruction
from ..ebpf.disasm import format_alu
from ..ebpf.opcodes import JMP_COND_SYMBOL, AtomicOp, PseudoSrc, Size
from ..platform.helpers import helper_name
from . import codes
from .codes import MAY_GOTO
from .linked import ADD_CONST, base_id
from .scalar import S32_MAX, S32_MIN, S64_MAX, S64_MIN
from .state import SLOT, Frame, Reg, RegType, StackSlot
from .tnum import U32, U64

# keyed by plain ints (code & 0x18, imm): an int finds its IntEnum member's entry, and back
_SIZE = {int(Size.B): "u8", int(Size.H): "u16", int(Size.W): "u32", int(Size.DW): "u64"}
_SSIZE = {int(Size.B): "s8", int(Size.H): "s16", int(Size.W): "s32"}
_ATOMIC_RMW = {int(AtomicOp.ADD): "+=", int(AtomicOp.OR): "|=", int(AtomicOp.AND): "&=", int(AtomicOp.XOR): "^="}
_ATOMIC_FETCH = {int(AtomicOp.FETCH_ADD): "add", int(AtomicOp.FETCH_OR): "or", int(AtomicOp.FETCH_AND): "and",
                 int(AtomicOp.FETCH_XOR): "xor"}


def _mem(reg: int, off: int) -> str:
    return f"(r{reg} {off:+d})"


def kernel_insn_text(insn: Instruction) -> str:
    """One instruction as the kernel's verifier log prints it, with the opcode byte."""
    text = _INSN_TEXTS.get(insn)
    if text is None:
        text = _INSN_TEXTS[insn] = f"({insn.code:02x}) {_body(insn)}"
    return text


# A log prints the same instructions and registers again and again (each state a path
# reaches): their texts are kept for one analysis.  An instruction never changes, nor
# does a register once stored in a frame (state.py), the only ones format_frame prints.
_INSN_TEXTS: dict = {}  # instruction -> text
_REG_TEXTS: dict = {}  # (stored register, frame number) -> text


def clear_cache() -> None:  # types: log.pxd
    """Forget the texts (each analysis starts cold, and the registers they keep are freed)."""
    _INSN_TEXTS.clear()
    _REG_TEXTS.clear()


def _stored_reg_text(reg: Reg, frameno: int) -> str:
    key = (reg, frameno)
    text = _REG_TEXTS.get(key)
    if text is None:
        text = _REG_TEXTS[key] = format_reg(reg, frameno)
    return text


def _body(insn: Instruction) -> str:
    code = insn.code
    cls = code & 0x07
    if cls == _ALU or cls == _ALU64:
        return format_alu(insn)
    if cls == _LDX:
        size = code & 0x18
        ptr = _SSIZE[size] if code & 0xE0 == _MEMSX else _SIZE[size]
        return f"r{insn.dst} = *({ptr} *){_mem(insn.src, insn.off)}"
    if cls == _ST:
        return f"*({_SIZE[code & 0x18]} *){_mem(insn.dst, insn.off)} = {insn.imm}"
    if cls == _STX:
        size = code & 0x18
        where = f"({_SIZE[size]} *){_mem(insn.dst, insn.off)}"
        if code & 0xE0 != _ATOMIC:
            return f"*{where} = r{insn.src}"
        r = "r" if size == _DW else "w"
        bits = "64" if size == _DW else ""
        if insn.imm in _ATOMIC_RMW:
            return f"lock *{where} {_ATOMIC_RMW[insn.imm]} {r}{insn.src}"
        if insn.imm in _ATOMIC_FETCH:
            return f"{r}{insn.src} = atomic{bits}_fetch_{_ATOMIC_FETCH[insn.imm]}({where}, {r}{insn.src})"
        if insn.imm == _XCHG:
            return f"{r}{insn.src} = atomic{bits}_xchg({where}, {r}{insn.src})"
        return f"{r}0 = atomic{bits}_cmpxchg({where}, {r}0, {r}{insn.src})"
    if cls == _LD:
        if code == _LD_IMM64:
            if insn.src in _MAP_SRCS:
                name = insn.reloc.map if insn.reloc is not None and insn.reloc.map else f"fd:{insn.imm}"
                suffix = f"[0]+{insn.imm_hi}" if insn.src in _MAP_VALUE_SRCS else ""
                return f"r{insn.dst} = map[{name}]{suffix}"
            return f"r{insn.dst} = {insn.imm64:#x}"
        size = _SIZE[code & 0x18]
        if code & 0xE0 == _IND:
            return f"r0 = *({size} *)skb[r{insn.src} + {insn.imm}]"
        return f"r0 = *({size} *)skb[{insn.imm}]"
    if code == MAY_GOTO:
        return f"may_goto pc{insn.off:+d}"
    op = code & 0xF0
    if op == _EXIT:
        return "exit"
    if op == _CALL:
        if code == _CALL_CODE and insn.src == 1:
            return f"call pc{insn.imm:+d}"
        if code == _CALL_CODE and insn.src == 2:
            return f"call kernel-function#{insn.imm}"
        return f"call {helper_name(insn.imm)}#{insn.imm}"
    if op == _JA:
        return f"gotol pc{insn.imm:+d}" if cls == _JMP32 else f"goto pc{insn.off:+d}"
    r = "w" if cls == _JMP32 else "r"
    rhs = f"{r}{insn.src}" if code & _X else f"{insn.imm & U32:#x}"
    return f"if {r}{insn.dst} {_COND_SYMBOL[op]} {rhs} goto pc{insn.off:+d}"


# The opcode fields as plain ints (codes.py): no enum lookups per logged instruction.
_ALU, _ALU64, _LDX, _ST, _STX, _LD, _JMP32 = codes.ALU, codes.ALU64, codes.LDX, codes.ST, codes.STX, codes.LD, codes.JMP32
_MEMSX, _ATOMIC, _IND, _DW, _X = codes.MODE_MEMSX, codes.MODE_ATOMIC, codes.MODE_IND, codes.SIZE_DW, codes.X
_EXIT, _CALL, _JA, _CALL_CODE, _LD_IMM64 = codes.OP_EXIT, codes.OP_CALL, codes.OP_JA, codes.CALL, codes.LD_IMM64
_XCHG = int(AtomicOp.XCHG)
_MAP_SRCS = frozenset(int(s) for s in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE))
_MAP_VALUE_SRCS = frozenset(int(s) for s in (PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE))
_COND_SYMBOL = {int(op): symbol for op, symbol in JMP_COND_SYMBOL.items()}


# -- register and stack states ------------------------------------------------------------


def snum(v: int) -> str:
    """verbose_snum: small numbers in decimal, others in hex."""
    v = v if v < (1 << 63) else v - (1 << 64)
    return str(v) if -512 <= v <= 512 else f"{v & U64:#x}"


def unum(v: int) -> str:
    return str(v) if v <= 512 else f"{v:#x}"


def _scalar_ranges(reg: Reg) -> list[str]:
    entries = [
        ["smin", reg.smin, reg.smin == S64_MIN], ["smax", reg.smax, reg.smax == S64_MAX],
        ["umin", reg.umin, reg.umin == 0], ["umax", reg.umax, reg.umax == U64],
        ["smin32", reg.s32_min, reg.s32_min == S32_MIN], ["smax32", reg.s32_max, reg.s32_max == S32_MAX],
        ["umin32", reg.u32_min, reg.u32_min == 0], ["umax32", reg.u32_max, reg.u32_max == U32],
    ]
    out = []
    for i, (name, value, omit) in enumerate(entries):
        if omit:
            continue
        names = [name]
        neg = name[0] == "s" and value < 0
        for other in entries[i + 2 :: 2]:
            if other[2] or other[1] != value or (other[0][0] == "s" and other[1] < 0) != neg:
                continue
            other[2] = True
            names.append(other[0])
        text = snum(value) if name[0] == "s" else unum(value)
        out.append("=".join(names) + "=" + text)
    return out


_T_SCALAR, _T_STACK, _T_NOT_INIT = RegType.SCALAR, RegType.STACK, RegType.NOT_INIT
_TYPE_NAME = {t: t.value for t in RegType}  # (an enum member's .value is a slow descriptor)
_SIZED_TYPES = frozenset({RegType.MEM, RegType.MEM_OR_NULL, RegType.RINGBUF_MEM, RegType.RINGBUF_MEM_OR_NULL,
                          RegType.RDONLY_UNTRUSTED_MEM, RegType.RDONLY_MEM, RegType.RDONLY_MEM_OR_NULL})


def format_reg(reg: Reg, frameno: int = 0) -> str:
    t = reg.type
    if t is _T_SCALAR and reg.is_const:
        return snum(reg.const_value)
    name = _TYPE_NAME[t]
    if reg.btf_type is not None:  # print_reg_state: a BTF pointer's struct follows its type
        name += reg.btf_type.name
    if t is _T_STACK:
        prefix = f"fp[{reg.frameno}]" if reg.frameno != frameno else "fp"
        if reg.is_const:
            return prefix + snum(reg.const_value + reg.off)
        name = prefix
    parts = []
    if reg.id:  # a scalar linked with a delta: its base id and the delta (BPF_ADD_CONST)
        parts.append(f"id={base_id(reg.id)}{reg.off:+d}" if reg.id & ADD_CONST else f"id={reg.id}")
    if reg.ref_obj_id:
        parts.append(f"ref_obj_id={reg.ref_obj_id}")
    if t is not _T_SCALAR and reg.off:
        parts.append(f"off={snum(reg.off)}")
    if t.is_pkt:
        parts.append(f"r={unum(reg.range)}")
    if t in _SIZED_TYPES:
        parts.append(f"sz={reg.mem_size}")
    if reg.map is not None:
        parts.append(f"ks={reg.map.key_size},vs={reg.map.value_size}")
    if reg.is_const:
        if reg.const_value:
            parts.append(f"imm={snum(reg.const_value)}")
    else:
        parts.extend(_scalar_ranges(reg))
        if not reg.var_off.is_unknown:
            parts.append(f"var_off={reg.var_off}")
    return f"{name}({','.join(parts)})"


def format_slot(slot: StackSlot, frameno: int) -> str:
    if slot.kinds[SLOT - 1] == "i" and slot.spilled is not None:  # an iterator, at its first slot
        reg = slot.spilled
        it = reg.btf_type
        return f"iter_{it.type}(ref_id={reg.ref_obj_id},state={it.state},depth={it.depth})"
    if slot.kinds[0] == "d":  # print_verifier_state: a dynptr, at its first slot
        reg = slot.spilled
        ids = [f"id={reg.id}"] + ([f"ref_id={reg.ref_obj_id}"] if reg.ref_obj_id else [])
        return f"dynptr_{reg.dynptr[0].value}({','.join(ids)})"
    if slot.is_spill and slot.spilled is not None:
        return _stored_reg_text(slot.spilled, frameno)
    return "".join(slot.kinds)


def format_frame(frame: Frame, regs: set[int] | None = None, slots: set[int] | None = None) -> str:
    """Registers (and stack slots) of a frame; only the given ones when filtered."""
    parts = []
    for i, reg in enumerate(frame.regs):
        if reg.type is _T_NOT_INIT or (regs is not None and i not in regs):
            continue
        parts.append(f"R{i}={_stored_reg_text(reg, frame.frameno)}")
    for spi in sorted(frame.stack):
        if slots is not None and spi not in slots:
            continue
        slot = frame.stack[spi]
        if all(k == "?" for k in slot.kinds) or (slot.kinds[0] == "d" and not slot.spilled.dynptr[1]) or (
                slot.kinds[SLOT - 1] == "i" and slot.spilled is not None and not slot.spilled.ref_obj_id):
            continue
        parts.append(f"fp{-(spi + 1) * 8}={format_slot(slot, frame.frameno)}")
    return " ".join(parts)


def align_comment(text: str) -> str:
    """Pad an instruction line so its `;` state comment lines up as the kernel's does."""
    pos = len(text) + 1
    width = -(-max(pos, 40) // 8) * 8 - pos - 1
    return text + " " * max(width, 1) + ";"
