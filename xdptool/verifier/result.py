"""What verification produces: the verdict, the error with its C line, statistics, facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..diagnostic import Located


class Reject(Exception):
    """The program is refused; `message` is worded as the kernel words it (may span lines)."""

    def __init__(self, message: str, pc: int | None = None):
        super().__init__(message)
        self.message = message
        self.pc = pc


class VerifierError(Located):
    """Why the program is refused, in the kernel's words, at the instruction and C line."""

    def __str__(self) -> str:
        where = f"\n{self.file}:{self.line}: {self.source}" if self.file else ""
        return f"{self.message}{where}"


@dataclass
class VerifierResult:
    accepted: bool
    error: VerifierError | None
    log: str
    processed_insns: int
    total_states: int
    peak_states: int
    max_states_per_insn: int
    stack_depth: list[int]  # per subprogram, as the kernel's "stack depth a+b" line
    facts: dict[int, Any] = field(default_factory=dict)  # pc -> facts.PcFacts
    time_ms: float = 0.0  # wall time of the check (setup, cfg, walk), as the kernel's "verification time" (BPF_LOG_STATS)

    @property
    def stack_depth_total(self) -> int:
        return sum(self.stack_depth)

    def as_json(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "error": self.error.as_json() if self.error else None,
            "processed_insns": self.processed_insns,
            "total_states": self.total_states,
            "peak_states": self.peak_states,
            "stack_depth": self.stack_depth_total,
            "stats": {"processed_insns": self.processed_insns, "states": self.total_states,
                      "time_ms": round(self.time_ms, 3)},
        }
