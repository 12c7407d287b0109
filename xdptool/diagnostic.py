"""A message about one instruction of a program, located at the C line it came from.

The verifier's rejection (verifier.result.VerifierError), a refusal of the NFP
offload (nfp.check.Reason) and an engine's run-time fault (runtime.contract.Fault)
are all this: what went wrong, at which instruction, on which source line (BTF
line info); each adds only what is its own.
"""

from __future__ import annotations

from typing import Any

from .record import Record


class Located(Record):
    """A message with where it applies: the instruction, and its C file, line and text when known
    (a subclass adds its own fields after these: FIELDS and its __init__)."""

    FIELDS = ("message", "insn", "file", "line", "source")

    def __init__(self, message: str, insn: int | None = None, file: str | None = None, line: int | None = None,
                 source: str | None = None):
        self.message = message
        self.insn = insn  # slot index in the program (pc)
        self.file = file
        self.line = line
        self.source = source  # the C line's text

    @classmethod
    def at(cls, message: str, insn: int | None, line_info: Any = None, **own: Any):
        """From an instruction's line info (elf.model.LineInfo, or None where there is none)."""
        if line_info is None:
            return cls(message, insn, **own)
        return cls(message, insn, line_info.file, line_info.line, (line_info.source or "").strip(), **own)

    @property
    def first_line(self) -> str:
        return self.message.splitlines()[0] if self.message else ""

    @property
    def where(self) -> str:
        """"file:line" of the C source, or "" when the object has no line info."""
        return f"{self.file}:{self.line}" if self.file else ""

    def as_json(self) -> dict[str, Any]:
        return self.as_dict()
