"""Instruction traces that explain themselves (`run --trace`, `replay --trace N`).

Each executed instruction shows what bpftool's `prog dump xlated` would call it
(`call bpf_map_lookup_elem#1`, `r1 = map[blocklist] ll`), the registers it changed
with pointers named by what they point into (`r2=pkt+14`, `r3=pkt_end`,
`r5=fp-16`, `r0=map_value[drops]`) rather than the interpreter's tagged addresses,
whether a conditional jump was taken, and, when the C line changes, the line
(`; if (data + 14 > data_end)  [port_blocklist.c:70]`).
"""

from __future__ import annotations

import os

from ..ebpf.opcodes import JmpOp
from ..elf.model import RelocKind
from ..runtime.config import MAX_BPF_STACK

SCALAR_DECIMAL_BELOW = 1 << 16  # small scalars in decimal (as the verifier log), larger in hex


def _packet(offset: int, size: int) -> str:
    return "pkt_end" if offset == size else "pkt" + (f"{offset:+d}" if offset else "")


def _stack(frame: str, offset: int) -> str:
    depth = frame.rsplit(" ", 1)[-1]
    below = offset - MAX_BPF_STACK
    return ("fp" if depth == "0" else f"fp[{depth}]") + (f"{below:+d}" if below else "")


def pointer_text(region: str, offset: int, size: int) -> str:
    """A pointer into one of the VM's regions (runtime/vm.py names them) as the verifier
    log would think of it: pkt+14, pkt_end, fp-8, ctx, map[NAME], map_value[NAME]+4."""
    if region == "packet":
        return _packet(offset, size)
    if region.startswith("stack frame "):
        return _stack(region, offset)
    if region.startswith("map ") and region.endswith(" value"):
        return f"map_value[{region[4:-6]}]" + (f"{offset:+d}" if offset else "")
    if region.startswith("map "):
        return f"map[{region[4:]}]"
    return region + (f"{offset:+d}" if offset else "")


def value_text(value: int) -> str:
    return str(value) if value < SCALAR_DECIMAL_BELOW else hex(value)


def insn_text(insn, text: str) -> str:
    """The disassembly with map and helper names where the bytes hold numbers."""
    from ..platform.helpers import helper_name

    if insn is None:
        return text
    reloc = insn.reloc
    if reloc is not None and reloc.kind is RelocKind.MAP:
        return f"r{insn.dst} = map[{reloc.map}] ll"
    if reloc is not None and reloc.kind is RelocKind.MAP_VALUE:
        return f"r{insn.dst} = map_value[{reloc.map}]" + (f"+{reloc.offset}" if reloc.offset else "") + " ll"
    if insn.is_helper_call:
        return f"call {helper_name(insn.imm)}#{insn.imm}"
    if reloc is not None and reloc.kind is RelocKind.KFUNC:
        return f"call {reloc.symbol} (kfunc)"
    return text


def outcome_text(insn, step: dict) -> str:
    """"taken"/"not taken" for a conditional jump; nothing for anything else."""
    if insn is None or not insn.is_branch or insn.op == JmpOp.JA or "next" not in step:
        return ""
    return "not taken" if step["next"] == insn.pc + insn.slots else f"taken -> {step['next']}"


def format_trace(result, program=None) -> list[str]:
    """One line per executed instruction (and one per new C line), as explained above."""
    programs = {p.name: p for p in program.object.programs} if program is not None and program.object else {}
    if program is not None:
        programs.setdefault(program.name, program)
    lines: list[str] = []
    last_line = None
    for step in getattr(result, "trace", None) or []:
        prog = programs.get(step.get("prog", ""), program)
        try:
            insn = prog.insn_at(step["pc"]) if prog is not None else None
        except KeyError:
            insn = None
        where = insn.line if insn is not None else None
        if where is not None and where.line and where.source.strip() and (where.file, where.line) != last_line:
            last_line = (where.file, where.line)
            lines.append(f"; {where.source.strip()}  [{os.path.basename(where.file)}:{where.line}]")
        pointers = step.get("pointers", {})
        changed = " ".join(f"{reg}={pointer_text(*pointers[reg]) if reg in pointers else value_text(value)}"
                           for reg, value in step["changed"].items())
        outcome = outcome_text(insn, step)
        lines.append(f"{step['pc']:>5}: {insn_text(insn, step['insn']):<40} {changed}{outcome}".rstrip())
    return lines
