"""Operands shared by both assembler syntaxes: numbers, registers, ranges.

Both syntaxes read one line into a `Parsed` (an `Instruction` plus, when the
line names a label, the label and the field its offset goes into); the driver
in `asm.py` resolves labels once every line is placed.

Range rule for immediates and offsets, chosen so the bpf_conformance negative
cases hold: a decimal must fit the *signed* field (`mov32 %r0, 2147483648` is an
error), a hexadecimal may also use the full unsigned width (`0x87654321` is the
32-bit pattern, `0x100000000` is an error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AsmError
from .insn import Instruction

MAX_REGISTER = 10  # r10, the read-only frame pointer

NUMBER = r"[+-]?(?:0[xX][0-9a-fA-F]+|\d+)"
IDENT = r"[A-Za-z_.$][\w.$]*"

_NUMBER_RE = re.compile(rf"^{NUMBER}$")
_IDENT_RE = re.compile(rf"^{IDENT}$")


@dataclass
class Parsed:
    """One assembled line before label resolution."""

    insn: Instruction
    label: str | None = None  # branch/call target still to resolve
    field: str = "off"  # "off" (16-bit) or "imm" (32-bit: ja32/gotol, local call)
    raw: bytes | None = None  # the bytes a listing line shows next to its text


def is_number(text: str) -> bool:
    return bool(_NUMBER_RE.match(text))


def is_label(text: str) -> bool:
    return bool(_IDENT_RE.match(text))


def parse_number(text: str) -> tuple[int, bool]:
    """(value, written in hex?) of a decimal or 0x-prefixed literal, signed or not."""
    if not is_number(text):
        raise AsmError(f"invalid number '{text}'")
    body = text.lstrip("+-")
    value = int(body, 16) if body[:2].lower() == "0x" else int(body, 10)
    return (-value if text.startswith("-") else value), body[:2].lower() == "0x"


def fit(value: int, bits: int, *, allow_unsigned: bool, what: str, text: str | None = None) -> int:
    """`value` as the signed `bits`-wide field it encodes to, or AsmError."""
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if allow_unsigned:
        high = (1 << bits) - 1
    if not low <= value <= high:
        raise AsmError(f"{what} {text if text is not None else value} out of range for {bits} bits")
    return value - (1 << bits) if value > (1 << (bits - 1)) - 1 else value


def number(text: str, bits: int, what: str = "immediate") -> int:
    """A literal that must fit a `bits`-wide field (see the module's range rule)."""
    value, is_hex = parse_number(text)
    return fit(value, bits, allow_unsigned=is_hex, what=what, text=text)


def imm64(text: str) -> int:
    """A 64-bit immediate: any value from -2**63 to 2**64-1, returned unsigned."""
    value, _ = parse_number(text)
    fit(value, 64, allow_unsigned=True, what="immediate", text=text)
    return value & 0xFFFFFFFFFFFFFFFF


def register_number(text: str, digits: str) -> int:
    regno = int(digits)
    if regno > MAX_REGISTER:
        raise AsmError(f"invalid register {text}")
    return regno


def set_jump(parsed: Parsed, target: str, field: str) -> Parsed:
    """Put a `+N`/`-N`/`N` offset or a label into `field` of the parsed instruction."""
    parsed.field = field
    if is_number(target):
        bits = 16 if field == "off" else 32
        setattr(parsed.insn, field, number(target, bits, what="offset"))
    elif is_label(target):
        parsed.label = target
    else:
        raise AsmError(f"invalid jump target '{target}'")
    return parsed
