"""NFP assembly text, close to Netronome's syntax: `alu[gprA_3, gprB_4, +, 0x1c]`.

Each instruction prints through its form's syntax template (isa.FORMS);
`assembler.py` parses the same templates, so a listing round-trips.  Labels
print as `name:` lines; `note` as a `; comment`.
"""

from __future__ import annotations

from typing import Iterable

from .forms import SUFFIXES
from .isa import NfpInsn, form_of


def format_insn(insn: NfpInsn) -> str:
    form = form_of(insn)
    text = form.mnemonic
    if form.brackets:
        args = (arg.text(insn) for arg in form.args)
        text += f"[{', '.join(a for a in args if a is not None)}]"
    for name in form.suffixes:
        suffix = SUFFIXES[name].text(insn)
        if suffix is not None:
            text += f", {suffix}"
    return text


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
