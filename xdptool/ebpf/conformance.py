"""Reader for bpf_conformance `.data` cases (github.com/Alan-Jowett/bpf_conformance).

A case is a file of `-- section` blocks: `asm` (conformance assembly), `raw`
(the program as 64-bit little-endian words `0x...` or as hex byte lines),
`mem` (hex bytes of the input memory), `result` (expected r0) or `error`
(expected failure; may be empty), and `c` / `no register offset`, which are
notes for other harnesses and ignored.  Lines before the first section are
comments.  The harness ABI puts the memory pointer in r1 and its length in r2.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import XdpError
from .asm import assemble
from .insn import Instruction, decode, encode
from .validate import validate

CONFORMANCE_ENTRY_REGS = frozenset({1, 2, 10})
SECTIONS = ("asm", "raw", "mem", "result", "error")
IGNORED_SECTIONS = ("c", "no register offset")

_HEADER = re.compile(r"^--\s*(?P<name>.*?)\s*$")
_BYTE = re.compile(r"^[0-9a-fA-F]{1,2}$")
_WORD = re.compile(r"^0[xX][0-9a-fA-F]{1,16}$")


class CaseFormatError(XdpError):
    """A `.data` file that is not a well-formed conformance case."""


@dataclass
class ConformanceCase:
    name: str
    asm: str | None
    raw: bytes | None
    mem: bytes
    result: int | None
    error: str | None  # None: no `-- error` section; "" : an error of any kind is expected
    insns: list[Instruction] = field(repr=False)
    path: Path | None = None

    @property
    def expects_error(self) -> bool:
        return self.error is not None

    def validate(self) -> None:
        """The ISA checks of `validate.validate`, with the harness's entry registers."""
        validate(self.insns, entry_regs=CONFORMANCE_ENTRY_REGS)


def _sections(path: Path, text: str) -> dict[str, tuple[int, list[str]]]:
    """{section: (line number of its first line, lines)}."""
    found: dict[str, tuple[int, list[str]]] = {}
    current: list[str] | None = None
    for lineno, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            name = header.group("name").lower()
            if name in IGNORED_SECTIONS:
                current = None
                continue
            if name not in SECTIONS:
                raise CaseFormatError(f"{path}:{lineno}: unknown section '-- {header.group('name')}'")
            if name in found:
                raise CaseFormatError(f"{path}:{lineno}: section '-- {name}' appears twice")
            current = []
            found[name] = (lineno + 1, current)
        elif current is not None:
            current.append(line)
    return found


def _hex_bytes(path: Path, first: int, lines: list[str], what: str) -> bytes:
    out = bytearray()
    for lineno, line in enumerate(lines, first):
        for token in line.split():
            if _WORD.match(token) and what == "raw":
                out += struct.pack("<Q", int(token, 16))
            elif _BYTE.match(token):
                out.append(int(token, 16))
            else:
                raise CaseFormatError(f"{path}:{lineno}: invalid {what} byte '{token}'")
    return bytes(out)


def _result(path: Path, first: int, lines: list[str]) -> int:
    values = [(n, line.strip()) for n, line in enumerate(lines, first) if line.strip()]
    if len(values) != 1:
        raise CaseFormatError(f"{path}:{first}: '-- result' needs exactly one value, got {len(values)}")
    lineno, text = values[0]
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise CaseFormatError(f"{path}:{lineno}: invalid result '{text}'") from None


def _program(path: Path, asm: tuple[int, list[str]] | None, raw: bytes | None) -> list[Instruction]:
    if asm is None and raw is None:
        raise CaseFormatError(f"{path}: no program: the case has neither '-- asm' nor '-- raw'")
    if asm is None:
        return decode(raw)
    first, lines = asm
    insns = assemble("\n".join(lines), syntax="conformance", first_line=first)
    if raw is not None and encode(insns) != raw:
        assembled = encode(insns)
        at = next((i for i, (a, b) in enumerate(zip(assembled, raw)) if a != b), min(len(assembled), len(raw)))
        raise CaseFormatError(f"{path}: '-- asm' and '-- raw' disagree at byte {at} (slot {at // 8})")
    return insns


def parse_case(path: str | Path) -> ConformanceCase:
    """Read one `.data` file; bad assembly raises `AsmError` with the file's line number."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise CaseFormatError(f"cannot read {path}: {exc.strerror}") from None
    sections = _sections(path, text)
    if "result" not in sections and "error" not in sections:
        raise CaseFormatError(f"{path}: the case has neither '-- result' nor '-- error'")
    raw = _hex_bytes(path, *sections["raw"], "raw") if "raw" in sections else None
    asm = sections.get("asm")
    return ConformanceCase(
        name=path.stem,
        asm="\n".join(asm[1]) if asm else None,
        raw=raw,
        mem=_hex_bytes(path, *sections["mem"], "mem") if "mem" in sections else b"",
        result=_result(path, *sections["result"]) if "result" in sections else None,
        error="\n".join(sections["error"][1]).strip() if "error" in sections else None,
        insns=_program(path, asm, raw),
        path=path,
    )


def load_suite(directory: str | Path) -> list[ConformanceCase]:
    """Every `*.data` case of a directory, sorted by name (the first bad one raises)."""
    paths = sorted(Path(directory).glob("*.data"))
    if not paths:
        raise CaseFormatError(f"no conformance cases (*.data) in {directory}")
    return [parse_case(p) for p in paths]
