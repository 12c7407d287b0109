"""Parse the text `printer.py` prints back into `NfpInsn`s (and labels).

`assemble(text)` -> (instructions, {label: address}).  Comments start with `;`;
a line `name:` defines a label at the next instruction's address.  Each
mnemonic's forms (isa.FORMS) say what its arguments and suffixes are; operands
are checked for form here, legality (bank pairs, operand limits) is the
encoder's and the executor's business.
"""

from __future__ import annotations

import re

from ..errors import AsmError
from .forms import LABEL, SUFFIXES, Form, MemOptionsArg
from .isa import FORMS, NfpInsn, form_of
from .registers import NONE

_NAME = re.compile(r"[a-z_0-9]+")
_SUFFIX = re.compile(r"\s*,\s*([a-z_0-9]+)\[([^\]]*)\]")

BY_MNEMONIC: dict[str, list[Form]] = {}
for _form in FORMS:
    BY_MNEMONIC.setdefault(_form.mnemonic, []).append(_form)


def _split(text: str, line: int | None) -> tuple[str, list[str], str]:
    """name[arg, arg, ...]rest -> (name, args, rest); brackets inside operands nest."""
    match = _NAME.match(text)
    if not match:
        raise AsmError(f"cannot parse {text!r}", line)
    name, pos = match[0], match.end()
    if pos == len(text) or text[pos] != "[":
        return name, [], text[pos:]
    depth, args, start = 0, [], pos + 1
    for i in range(pos, len(text)):
        ch = text[i]
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                body = text[start:i]
                if body.strip():
                    args.append(body.strip())
                return name, args, text[i + 1:]
        elif ch == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
    raise AsmError(f"unbalanced brackets in {text!r}", line)


def _counts(form: Form) -> range:
    required = sum(not arg.optional for arg in form.args)
    extra = sum(arg.count if isinstance(arg, MemOptionsArg) else 1 for arg in form.args if arg.optional)
    return range(required, required + extra + 1)


def _parse(form: Form, args: list[str], rest: str, line: int | None) -> NfpInsn:
    name, counts = form.mnemonic, _counts(form)
    if len(args) not in counts:
        raise AsmError(f"{name} takes {' or '.join(map(str, counts))} operands, got {len(args)}", line)
    attrs = dict(form.fixed)
    for index, (arg, text) in enumerate(zip(form.args, args)):
        if isinstance(arg, MemOptionsArg):
            arg.parse_all(args[index:], attrs, form, line)
            break
        arg.parse(text, attrs, form, line)
    suffixes = _SUFFIX.findall(rest)
    if _SUFFIX.sub("", rest).strip():
        raise AsmError(f"unexpected text {rest.strip()!r} after {name}", line)
    codecs = {n: SUFFIXES[s] for s in form.suffixes for n in SUFFIXES[s].names(form)}
    for suffix, text in suffixes:
        if suffix not in codecs:
            raise AsmError(f"unexpected {suffix}[...] after {name}", line)
        codecs[suffix].parse_suffix(suffix, text, attrs, line)
    if form.sync_modes and "sync" not in attrs:
        raise AsmError(f"{name} needs a signal: {' or '.join(m + '[sigN]' for m in form.sync_modes)}", line)
    for slot in form.slots:
        if slot.required and attrs.get(slot.attr, NONE) is NONE:
            raise AsmError(f"{name} needs a {slot.attr} operand", line)
    return NfpInsn(form.kind, **attrs)


def parse_insn(text: str, line: int | None = None) -> NfpInsn:
    """One instruction, by the first of its mnemonic's forms that parses it and holds the result."""
    name, args, rest = _split(text.strip(), line)
    forms = BY_MNEMONIC.get(name)
    if forms is None:
        raise AsmError(f"unknown instruction {name!r}", line)
    first_error = None
    for form in forms:
        try:
            insn = _parse(form, args, rest, line)
        except AsmError as error:
            first_error = first_error or error
            continue
        if form_of(insn) is form:
            return insn
    raise first_error or AsmError(f"no form of {name} holds {text.strip()!r}", line)


def assemble(text: str) -> tuple[list[NfpInsn], dict[str, int]]:
    insns: list[NfpInsn] = []
    labels: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        body, _, comment = raw.partition(";")
        body = body.strip()
        if not body:
            continue
        if body.endswith(":") and LABEL.match(body[:-1]):
            if body[:-1] in labels:
                raise AsmError(f"label {body[:-1]!r} defined twice", number)
            labels[body[:-1]] = len(insns)
            continue
        body = re.sub(r"^\d+\s+", "", body)  # listings with addresses
        insn = parse_insn(body, number)
        insn.note = comment.strip()
        insns.append(insn)
    return insns, labels
