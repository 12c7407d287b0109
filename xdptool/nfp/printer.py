"""NFP assembly text, close to Netronome's syntax: `alu[gprA_3, gprB_4, +, 0x1c]`.

One formatter per kind; `assembler.py` parses exactly what these print, so a
listing round-trips.  Labels print as `name:` lines; `note` as a `; comment`.
"""

from __future__ import annotations

from typing import Iterable

from .isa import NfpInsn


def _mask(value: int) -> str:
    return format(value & 0xF, "04b")


def _defer(insn: NfpInsn) -> str:
    return f", defer[{insn.defer}]" if insn.defer else ""


def _target(insn: NfpInsn) -> str:
    return str(insn.meta.get("label", insn.target))


def _alu(i: NfpInsn) -> str:
    return f"alu[{i.dst}, {i.a}, {i.op}, {i.b}]"


def _alu_shf(i: NfpInsn) -> str:
    return f"alu_shf[{i.dst}, {i.a}, {i.op}, {i.b}, {i.shift}]"


def _ld_field(i: NfpInsn) -> str:
    name = "ld_field_w_clr" if i.width == "w_clr" else "ld_field"
    shift = f", {i.shift}" if i.shift is not None and i.shift.amount != 0 else ""
    return f"{name}[{i.dst}, {_mask(i.value)}, {i.b}{shift}]"


def _immed(i: NfpInsn) -> str:
    name = f"immed_{i.width}" if i.width else "immed"
    value = _target(i) if i.target is not None else hex(i.value)
    shift = f", {i.shift}" if i.width == "" and i.shift is not None and i.shift.amount else ""
    return f"{name}[{i.dst}, {'~' if i.invert else ''}{value}{shift}]"


def _mul(i: NfpInsn) -> str:
    return f"mul_step[{i.dst if i.op.endswith(('last', 'last2')) else i.a}, {i.b}, {i.op}]"


def _br(i: NfpInsn) -> str:
    return f"{i.op}[{_target(i)}]{_defer(i)}"


def _br_bit(i: NfpInsn) -> str:
    return f"{i.op}[{i.a}, {i.value}, {_target(i)}]{_defer(i)}"


def _rtn(i: NfpInsn) -> str:
    return f"rtn[{i.a}]{_defer(i)}"


def _jump(i: NfpInsn) -> str:
    return f"jump[{i.a}, {_target(i)}]{_defer(i)}"


def _mem(i: NfpInsn) -> str:
    sync = f", {i.sync}[sig{i.sig}]" if i.sync else ""
    options = "".join(f", {o}" for o in (i.mode, "indirect_ref" if i.indirect else "") if o)
    return f"mem[{i.op}, {i.dst}, {i.a}, {i.b}, {i.value}{options}]{sync}{_defer(i)}"


def _csr_wr(i: NfpInsn) -> str:
    return f"local_csr_wr[{i.op}, {i.b}]"


def _csr_rd(i: NfpInsn) -> str:
    return f"local_csr_rd[{i.op}]"


def _ctx_arb(i: NfpInsn) -> str:
    return f"ctx_arb[{'sig%d' % i.sig if i.sig else 'voluntary'}]"


def _nop(i: NfpInsn) -> str:
    return "nop"


FORMATTERS = {
    "alu": _alu,
    "alu_shf": _alu_shf,
    "ld_field": _ld_field,
    "immed": _immed,
    "mul_step": _mul,
    "br": _br,
    "br_bit": _br_bit,
    "rtn": _rtn,
    "jump": _jump,
    "mem": _mem,
    "csr_wr": _csr_wr,
    "csr_rd": _csr_rd,
    "ctx_arb": _ctx_arb,
    "nop": _nop,
}


def format_insn(insn: NfpInsn) -> str:
    return FORMATTERS[insn.kind](insn)


def _labels_by_address(labels: dict[str, int]) -> dict[int, list[str]]:
    by_address: dict[int, list[str]] = {}
    for name, address in labels.items():
        by_address.setdefault(address, []).append(name)
    return by_address


def format_listing(insns: Iterable[NfpInsn], labels: dict[str, int] | None = None, *,
                   addresses: bool = False, notes: bool = True) -> str:
    """Labels on their own lines, one instruction per line, notes as comments."""
    by_address = _labels_by_address(labels or {})
    lines = []
    insns = list(insns)
    for address, insn in enumerate(insns):
        for name in by_address.get(address, ()):
            lines.append(f"{name}:")
        text = format_insn(insn)
        prefix = f"{address:5d}  " if addresses else "    "
        line = prefix + text
        if notes and insn.note:
            line = f"{line:<56} ; {insn.note}"
        lines.append(line)
    for name in by_address.get(len(insns), ()):
        lines.append(f"{name}:")
    return "\n".join(lines) + "\n"


def format_image_listing(image) -> str:
    """An offloaded image: each NFP instruction with the eBPF instruction it came from
    (first instruction of each) and the C line whenever it changes, as comments."""
    by_address = _labels_by_address(image.labels)
    whose = ("the kernel JIT's image, loaded at {:#x}".format(image.load_address) if image.allocator == "kernel"
             else "xdptool's allocator: a what-if, not runnable on shipping firmware")
    head = [f"; {image.program}: {len(image.insns)} NFP instructions, {image.contexts} contexts ({whose})"]
    lines, last = head, None
    for address, insn in enumerate(image.insns):
        line = insn.meta.get("line")
        if line is not None and line != last:
            lines.append(f"    ; {line.file}:{line.line}: {(line.source or '').strip()}")
            last = line
        for name in by_address.get(address, ()):
            lines.append(f"{name}:")
        text = f"{address:5d}  {format_insn(insn)}"
        lines.append(f"{text:<60} ; {insn.note}" if insn.note else text)
    return "\n".join(lines) + "\n"
