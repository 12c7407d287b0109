"""Does a program fit the NFP?  The driver's reasons, with the C line.

Three layers, first refusal wins:
  1. xdptool's verifier with the `nfp` profile (kernel rules plus the driver's
     map, helper and opcode restrictions - xdptool/verifier/nfp_rules.py);
     where the verifier cannot run, `map_reasons` below checks the maps;
  2. the lowering (lower.py), which refuses what it cannot express the way the
     driver's JIT refuses it (non-constant divisors, wide multipliers, ...);
  3. the exact size of the allocated image against the firmware's window
     (`program too long`, bpf/offload.c).
The driver's tables and messages live in platform/nfp_driver.py and platform/helpers.py.
Without layer 1 (offload(..., verify=False)), what the driver refuses but the
emulator can still run (unaligned map keys, direct map writes) comes back from
the lowering as warnings, not reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..elf.model import Program
from ..platform import nfp_driver as driver
from .image import BPF_WINDOW


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
    too_many = driver.too_many_maps(len(used))
    out = [Reason(too_many)] if too_many else []
    for name in used:
        message = driver.map_refusal(maps[name])
        if message:
            out.append(Reason(f"map {name}: {message}"))
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
