"""The eBPF assembler: text in either syntax -> `Instruction`s.

Two syntaxes, chosen per line under `syntax="auto"`:

* llvm-objdump's (`r0 += r1`, `if r1 s> 2 goto +1`; see `asm_llvm`), including
  whole `llvm-objdump -d` listings: slot numbers, raw bytes, `<label>` annotations,
  `Disassembly of section`/file-format headers and relocation lines are skipped,
  and symbol headers (`0000000000000000 <prog>:`) become labels.  Where the
  listing shows raw bytes they must agree with the text: an `<unknown>` line
  assembles from them, and so does a line whose text is what llvm-objdump 14
  prints for them while dropping a field (`hidden_by_llvm14`: sdiv shown as `/=`,
  movsx as `=`, a kfunc call as `call N`...); any other disagreement is an error.
* bpf_conformance's (`add %r1, %r2`, `jne %r1, 3, fail`; see `asm_conformance`).

A line is tried as llvm syntax first; `call N` therefore follows the llvm reading
(negative N = local call), which is also the conformance reading for N >= 0.
Comments start with `#`, `;` or `//`; `name:` defines a label (on its own line or
before an instruction).  As in bpf_conformance, a jump to `exit` that no label of
that name defines goes to the first `exit` instruction.

Errors are `AsmError`s naming the line and the reason; the assembler checks
syntax, registers and field ranges, while `validate.validate` checks the rules
the kernel enforces on a whole program.
"""

from __future__ import annotations

import re

from ..errors import AsmError, DecodeError
from . import asm_conformance, asm_llvm
from .asm_operands import IDENT, Parsed, fit
from .insn import Instruction, decode_one
from .opcodes import AtomicOp, CallSrc, Cls, JmpOp, Mode, Size, Src

SYNTAXES = ("auto", "llvm", "conformance")
IMPLICIT_EXIT_LABEL = "exit"

_COMMENT = re.compile(r"\s*(?:#|;|//).*$")
_SKIPPED = (
    re.compile(r"^\S+:\s+file format\s"),  # `prog.o:	file format elf64-bpf`
    re.compile(r"^\s*[0-9a-fA-F]+:\s+R_BPF_\w+"),  # relocation lines of `llvm-objdump -dr`
)
_SECTION = re.compile(r"^Disassembly of section (?P<name>\S+):$")
_SYMBOL = re.compile(r"^[0-9a-fA-F]+ <(?P<name>[^>]+)>:$")
_SLOT = re.compile(r"^\d+:\s+(?:(?P<raw>(?:[0-9a-f]{2} ){7,15}[0-9a-f]{2})(?:\s+|$))?")
_ANNOTATION = re.compile(r"\s*<[^<>]*>$")
_LABEL = re.compile(rf"^(?P<label>{IDENT}):(?:\s+(?P<rest>.*))?$")
_LLVM_HINT = re.compile(r"=|^(?:if|goto|gotol|callx|ld_pseudo)\b|^\*\(")
UNKNOWN = "<unknown>"


def assemble(text: str, *, syntax: str = "auto", first_line: int = 1) -> list[Instruction]:
    """Assemble `text`; `first_line` numbers its first line in error messages."""
    if syntax not in SYNTAXES:
        raise AsmError(f"unknown assembly syntax '{syntax}' (expected one of {', '.join(SYNTAXES)})")
    placed: list[tuple[int, Parsed]] = []
    labels: dict[str, tuple[int, int]] = {}  # name -> (slot, line)
    pc = 0
    section = None
    for lineno, raw_line in enumerate(text.splitlines(), first_line):
        line = _COMMENT.sub("", raw_line).strip()
        if not line or any(p.match(line) for p in _SKIPPED):
            continue
        header = _SECTION.match(line)
        if header:
            if section is not None and placed:
                raise AsmError("the listing holds more than one section; assemble one section at a time", lineno)
            section = header.group("name")
            continue
        label, line, raw_bytes = _split_line(line)
        if label is not None:
            if label in labels:
                raise AsmError(f"duplicate label '{label}' (first defined on line {labels[label][1]})", lineno)
            labels[label] = (pc, lineno)
        if not line:
            continue
        try:
            parsed = _parse(line, raw_bytes, syntax)
        except AsmError as exc:
            if exc.line is not None:
                raise
            raise AsmError(str(exc), lineno) from None
        parsed.insn.pc = pc
        parsed.raw = bytes.fromhex(raw_bytes) if raw_bytes else None
        pc += parsed.insn.slots
        placed.append((lineno, parsed))
    return _resolve(placed, {name: slot for name, (slot, _) in labels.items()})


def _split_line(line: str) -> tuple[str | None, str, str | None]:
    """(label defined here, instruction text, raw bytes shown by llvm-objdump)."""
    symbol = _SYMBOL.match(line)
    if symbol:
        return symbol.group("name"), "", None
    label = _LABEL.match(line)
    if label:
        return label.group("label"), (label.group("rest") or "").strip(), None
    slot = _SLOT.match(line)
    raw_bytes = None
    if slot:
        raw_bytes = slot.group("raw")
        line = line[slot.end() :].strip()
    if line != UNKNOWN:
        line = _ANNOTATION.sub("", line)
    return None, line, raw_bytes


def _parse(line: str, raw_bytes: str | None, syntax: str) -> Parsed:
    if line == UNKNOWN:
        if raw_bytes is None:
            raise AsmError("cannot assemble <unknown>: the listing does not show the raw bytes")
        try:
            return Parsed(decode_one(bytes.fromhex(raw_bytes)))
        except DecodeError as exc:
            raise AsmError(str(exc)) from None
    mnemonic = line.split(maxsplit=1)[0].lower()
    # no llvm form starts with a conformance mnemonic (`exit` reads the same in both)
    if syntax == "conformance" or (syntax == "auto" and mnemonic in asm_conformance.MNEMONICS):
        return asm_conformance.parse(line)
    parsed = asm_llvm.parse(line)
    if parsed is not None:
        return parsed
    if syntax == "llvm" or (mnemonic not in asm_conformance.KEYWORDS and _LLVM_HINT.search(line)):
        raise AsmError(f"cannot parse '{line}' as an instruction")
    return asm_conformance.parse(line)


def _resolve(placed: list[tuple[int, Parsed]], labels: dict[str, int]) -> list[Instruction]:
    """Fill label offsets (pc-relative, in slots) into `off` or `imm`."""
    if IMPLICIT_EXIT_LABEL not in labels:
        exits = [p.insn.pc for _, p in placed if p.insn.is_exit]
        if exits:
            labels[IMPLICIT_EXIT_LABEL] = exits[0]
    for lineno, parsed in placed:
        if parsed.label is None:
            continue
        if parsed.label not in labels:
            raise AsmError(f"undefined label {parsed.label}", lineno)
        offset = labels[parsed.label] - parsed.insn.pc - 1
        bits = 16 if parsed.field == "off" else 32
        try:
            value = fit(offset, bits, allow_unsigned=False, what=f"offset to label {parsed.label}:")
        except AsmError as exc:
            raise AsmError(str(exc), lineno) from None
        setattr(parsed.insn, parsed.field, value)
    for lineno, parsed in placed:
        if parsed.raw is not None:
            parsed.insn = _agree_with_raw(parsed.insn, parsed.raw, lineno)
    return [parsed.insn for _, parsed in placed]


# What llvm-objdump 14's text leaves out (measured on its output): (applies to, fields as
# the text shows them).  A listing line whose raw bytes differ from its text only there
# assembles to the raw bytes.
_HIDDEN_BY_LLVM14 = (
    # sdiv/smod print as div/mod, movsx as mov
    (lambda i: i.is_alu, lambda i: {"off": 0}),
    # without +alu32 a 32-bit fetch-add prints as `lock *(u32 *)(...) += r`
    (
        lambda i: i.is_atomic and i.code & 0x18 == Size.W and i.imm == AtomicOp.FETCH_ADD,
        lambda i: {"imm": AtomicOp.ADD},
    ),
    # `call N` for every src: read back as helper (N >= 0) or local (N < 0)
    (lambda i: i.is_call, lambda i: {"src": CallSrc.LOCAL if i.imm < 0 else CallSrc.HELPER}),
    # `callx rN` names imm, not dst
    (lambda i: i.code == Cls.JMP | JmpOp.CALL | Src.X, lambda i: {"dst": 0}),
    # `skb[rN]` has no place for imm; ld_pseudo shows the low 32 bits of its immediate
    (lambda i: i.cls == Cls.LD and i.mode == Mode.IND, lambda i: {"imm": 0}),
    (lambda i: i.is_ld_imm64 and i.src != 0, lambda i: {"imm_hi": 0}),
)


def hidden_by_llvm14(insn: Instruction) -> Instruction:
    """`insn` as llvm-objdump 14's text spells it out (see `_HIDDEN_BY_LLVM14`)."""
    view = insn.copy()
    for applies, shown in _HIDDEN_BY_LLVM14:
        if applies(insn):
            for name, value in shown(insn).items():
                setattr(view, name, value)
    return view


def _agree_with_raw(insn: Instruction, raw: bytes, lineno: int) -> Instruction:
    if insn.encode() == raw:
        return insn
    shown = decode_one(raw, pc=insn.pc)
    if shown.encode() == raw and hidden_by_llvm14(shown).encode() == insn.encode():
        return shown
    raise AsmError(f"the text encodes to {insn.encode().hex(' ')} but the raw bytes are {raw.hex(' ')}", lineno)
