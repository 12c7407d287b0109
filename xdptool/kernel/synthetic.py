"""Programs built from instruction lists rather than ELF objects.

The conformance wrapper and the kernel fact tests need loadable `Program`s that
no C source produced; this gives them the same model an ELF object would, so the
loader, engines and dumps treat them alike.
"""

from __future__ import annotations

from ..ebpf.insn import Instruction, renumber
from ..elf.model import MapDef, Object, Program, ProgType, Reloc, RelocKind, Subprogram

BPF_XDP_ATTACH = 37  # enum bpf_attach_type BPF_XDP


def map_ref(insn: Instruction, map_name: str, offset: int | None = None) -> Instruction:
    """Mark an ld_imm64 as loading map `map_name` (or a value address in it with `offset`)."""
    kind = RelocKind.MAP if offset is None else RelocKind.MAP_VALUE
    insn.reloc = Reloc(kind, map_name, map=map_name, offset=offset or 0)
    return insn


def synthetic_program(
    insns: list[Instruction],
    maps: list[MapDef] | None = None,
    name: str = "synthetic",
    prog_type: ProgType = ProgType.XDP,
    license: str = "GPL",
) -> Program:
    """A one-program Object around `insns` (renumbered) with the given maps."""
    insns = renumber(list(insns))
    end = sum(i.slots for i in insns)
    program = Program(
        name=name,
        section="xdp" if prog_type == ProgType.XDP else prog_type.name.lower(),
        type=prog_type,
        type_name="xdp" if prog_type == ProgType.XDP else prog_type.name.lower(),
        insns=insns,
        subprograms=[Subprogram(name, 0, end, "xdp")],
        license=license,
        attach_type=BPF_XDP_ATTACH if prog_type == ProgType.XDP else 0,
    )
    program.object = Object(
        path=f"<{name}>",
        programs=[program],
        maps={m.name: m for m in maps or []},
        license=license,
        kern_version=0,
        code_sections=[],
    )
    return program
