"""Does a program fit the NFP?  The driver's reasons, with the C line.

Three layers, first refusal wins:
  1. xdptool's verifier with the `nfp` profile (kernel rules plus the driver's
     map, helper and opcode restrictions - xdptool/verifier/nfp_rules.py);
     where the verifier cannot run, `map_reasons` below checks the maps;
  2. the lowering (lower.py), which refuses what it cannot express the way the
     driver's JIT refuses it (non-constant divisors, wide multipliers, ...);
  3. the exact size of the allocated image against the firmware's window
     (`program too long`, bpf/offload.c).
What the driver refuses but the emulator can still run (unaligned map keys,
direct map writes) comes back as warnings, not reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..elf.model import MapType, Program
from .image import BPF_WINDOW

# bpf/offload.c nfp_bpf_map_alloc and the firmware's capabilities (nfp-facts.md)
MAX_MAPS, MAX_KEY, MAX_VALUE, MAX_ELEM = 128, 56, 56, 64


@dataclass
class Reason:
    message: str
    insn: int | None = None
    file: str | None = None
    line: int | None = None
    source: str | None = None

    @classmethod
    def at(cls, message: str, line: Any, insn: int | None) -> "Reason":
        if line is None:
            return cls(message, insn)
        return cls(message, insn, line.file, line.line, (line.source or "").strip())

    def __str__(self) -> str:
        where = f"insn {self.insn}: " if self.insn is not None else ""
        source = f" ({self.file}:{self.line}: {self.source})" if self.file else ""
        return f"{where}{self.message}{source}"

    def as_json(self) -> dict:
        return dict(vars(self))


def map_reasons(program: Program) -> list[Reason]:
    obj = program.object
    maps = obj.maps if obj is not None else {}
    used = program.referenced_maps()
    out = []
    if len(used) > MAX_MAPS:
        out.append(Reason("too many maps for a device"))
    for name in used:
        m = maps[name]
        if m.type not in (MapType.HASH, MapType.ARRAY):
            out.append(Reason(f"map {name}: map type not supported ({m.type.kernel_name})"))
        elif m.flags or m.is_global_data:
            out.append(Reason(f"map {name}: map flags are not supported"))
        elif m.key_size > MAX_KEY:
            out.append(Reason(f"map {name}: map key size {m.key_size}, FW max is {MAX_KEY}"))
        elif m.value_size > MAX_VALUE:
            out.append(Reason(f"map {name}: map value size {m.value_size}, FW max is {MAX_VALUE}"))
        elif ((m.key_size + 7) & ~7) + ((m.value_size + 7) & ~7) > MAX_ELEM:
            out.append(Reason(f"map {name}: map elements too large: {m.key_size + m.value_size}, "
                              f"FW max element size (key+value): {MAX_ELEM}"))
    return out


def verifier_reasons(program: Program) -> tuple[list[Reason], dict | None]:
    """The nfp profile's verdict and per-pc facts; our own map checks when the verifier is unavailable."""
    try:
        from ..verifier import analyze
    except ImportError:
        return map_reasons(program), None
    result = analyze(program, "nfp", collect_facts=True)
    if result.accepted:
        return map_reasons(program), result.facts
    error = result.error
    return [Reason(error.first_line, error.insn, error.file, error.line, error.source)], None


def size_reasons(count: int) -> list[Reason]:
    if count > BPF_WINDOW:
        return [Reason(f"program too long: {count} NFP instructions, the firmware's window holds {BPF_WINDOW}")]
    return []
