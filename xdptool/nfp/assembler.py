"""Parse the text `printer.py` prints back into `NfpInsn`s (and labels).

`assemble(text)` -> (instructions, {label: address}).  Comments start with `;`;
a line `name:` defines a label at the next instruction's address.  Operands
are checked for form here; legality (bank pairs, operand limits) is the
encoder's and the executor's business.
"""

from __future__ import annotations

import re

from ..errors import AsmError
from .isa import (
    ALU_OPS,
    CONDITIONS,
    CSR_BY_ADDR,
    CSRS,
    CTX_SWAP_MODES,
    IMMED_FORMS,
    MEM_COMMANDS,
    MEM_MODES,
    MUL_STEPS,
    MUL_TYPES,
    SHF_OPS,
    NfpInsn,
    Shift,
)
from .registers import NONE, parse_operand

_NAME = re.compile(r"[a-z_0-9]+")
_SUFFIX = re.compile(r"\s*,\s*([a-z_0-9]+)\[([^\]]*)\]")
_SHIFT = re.compile(r"^(<<|>>rot|>>dbl|>>)(indirect|\d+)$")
_LABEL = re.compile(r"^[A-Za-z_.][\w.]*$")


def parse_shift(text: str, line: int | None) -> Shift:
    match = _SHIFT.match(text.strip())
    if not match:
        raise AsmError(f"bad shift {text!r}", line)
    amount = None if match[2] == "indirect" else int(match[2])
    if amount is not None and not 0 <= amount <= 31:
        raise AsmError(f"shift amount {amount} outside 0..31", line)
    return Shift(match[1], amount)


def _label_or_int(text: str, line: int | None):
    text = text.strip()
    if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", text):
        return int(text, 0)
    if _LABEL.match(text):
        return text
    raise AsmError(f"bad branch target {text!r}", line)


def _need(args: list[str], count: tuple[int, ...], name: str, line: int | None) -> None:
    if len(args) not in count:
        raise AsmError(f"{name} takes {' or '.join(map(str, count))} operands, got {len(args)}", line)


def _alu(name, args, line):
    _need(args, (4,), name, line)
    if args[2] not in ALU_OPS:
        raise AsmError(f"unknown alu operation {args[2]!r}", line)
    ops = [parse_operand(x, line) for x in (args[0], args[1], args[3])]
    return NfpInsn("alu", dst=ops[0], a=ops[1], op=args[2], b=ops[2])


def _alu_shf(name, args, line):
    _need(args, (5,), name, line)
    if args[2] not in SHF_OPS:
        raise AsmError(f"unknown shifter operation {args[2]!r}", line)
    return NfpInsn("alu_shf", dst=parse_operand(args[0], line), a=parse_operand(args[1], line), op=args[2],
                   b=parse_operand(args[3], line), shift=parse_shift(args[4], line))


def _ld_field(name, args, line):
    _need(args, (3, 4), name, line)
    if not re.fullmatch(r"[01]{4}", args[1]):
        raise AsmError(f"bad byte mask {args[1]!r} (4 binary digits)", line)
    shift = parse_shift(args[3], line) if len(args) == 4 else None
    return NfpInsn("ld_field", dst=parse_operand(args[0], line), b=parse_operand(args[2], line), value=int(args[1], 2),
                   width="w_clr" if name.endswith("_w_clr") else "", shift=shift)


def _immed(name, args, line):
    _need(args, (2, 3), name, line)
    width = name[len("immed_"):] if name != "immed" else ""
    if width not in IMMED_FORMS:
        raise AsmError(f"unknown instruction {name!r}", line)
    text = args[1]
    invert = text.startswith("~")
    text = text.lstrip("~")
    value, target = _label_or_int(text, line), None
    if isinstance(value, str):
        value, target = 0, value
    limit = 1 << IMMED_FORMS[width][2]
    if not 0 <= value < limit:
        raise AsmError(f"immed value {value:#x} does not fit {IMMED_FORMS[width][2]} bits", line)
    shift = None
    if len(args) == 3:
        if width:
            raise AsmError(f"{name} takes no shift", line)
        shift = parse_shift(args[2], line)
        if shift.kind != "<<" or shift.amount not in (8, 16, 24):
            raise AsmError("immed shifts by <<8, <<16 or <<24", line)
    return NfpInsn("immed", dst=parse_operand(args[0], line), value=value, target=target, width=width,
                   invert=invert, shift=shift)


def _mul(name, args, line):
    _need(args, (3,), name, line)
    step = args[2]
    kind, _, which = step.partition("_")
    if step != "start" and (kind not in MUL_TYPES or which not in MUL_STEPS):
        raise AsmError(f"bad mul_step {step!r}", line)
    first, second = parse_operand(args[0], line), parse_operand(args[1], line)
    if which in ("last", "last2"):
        return NfpInsn("mul_step", dst=first, op=step, b=second)
    return NfpInsn("mul_step", a=first, op=step, b=second)


def _br(name, args, line):
    _need(args, (1,), name, line)
    return NfpInsn("br", op=name, target=_label_or_int(args[0], line))


def _br_bit(name, args, line):
    _need(args, (3,), name, line)
    return NfpInsn("br_bit", op=name, a=parse_operand(args[0], line), value=int(args[1], 0),
                   target=_label_or_int(args[2], line))


def _rtn(name, args, line):
    _need(args, (1,), name, line)
    return NfpInsn("rtn", a=parse_operand(args[0], line))


def _jump(name, args, line):
    _need(args, (2,), name, line)
    return NfpInsn("jump", a=parse_operand(args[0], line), target=_label_or_int(args[1], line))


def _mem(name, args, line):
    """mem[command, $xfer, a, b, count(, 40b_BA | 40b_AB)(, indirect_ref)]"""
    _need(args, (5, 6, 7), name, line)
    if args[0] not in MEM_COMMANDS:
        raise AsmError(f"unknown memory command {args[0]!r}", line)
    options = args[5:]
    unknown = [o for o in options if o not in MEM_MODES and o != "indirect_ref"]
    if unknown:
        raise AsmError(f"unknown memory command option {unknown[0]!r}", line)
    mode = next((o for o in options if o in MEM_MODES), "")
    return NfpInsn("mem", op=args[0], dst=parse_operand(args[1], line), a=parse_operand(args[2], line),
                   b=parse_operand(args[3], line), value=int(args[4], 0), mode=mode,
                   indirect="indirect_ref" in options)


def _csr(name, args, line):
    wanted = 2 if name == "local_csr_wr" else 1
    _need(args, (wanted,), name, line)
    csr = args[0]
    if csr not in CSRS:
        try:
            csr = CSR_BY_ADDR.get(int(csr, 0), csr)
        except ValueError:
            raise AsmError(f"unknown CSR {args[0]!r}", line) from None
    if name == "local_csr_wr":
        return NfpInsn("csr_wr", op=csr, b=parse_operand(args[1], line))
    return NfpInsn("csr_rd", op=csr)


def _ctx_arb(name, args, line):
    _need(args, (1,), name, line)
    sig = 0 if args[0] == "voluntary" else _signal(args[0], line)
    return NfpInsn("ctx_arb", sig=sig)


def _nop(name, args, line):
    _need(args, (0,), name, line)
    return NfpInsn("nop")


def _signal(text: str, line: int | None) -> int:
    match = re.fullmatch(r"sig(\d+)", text.strip())
    if not match or not 0 <= int(match[1]) <= 15:
        raise AsmError(f"bad signal {text!r} (sig0..sig15; sig0: nobody waits)", line)
    return int(match[1])


PARSERS = {
    "alu": _alu,
    "alu_shf": _alu_shf,
    "ld_field": _ld_field,
    "ld_field_w_clr": _ld_field,
    "mul_step": _mul,
    "br_bset": _br_bit,
    "br_bclr": _br_bit,
    "rtn": _rtn,
    "jump": _jump,
    "mem": _mem,
    "local_csr_wr": _csr,
    "local_csr_rd": _csr,
    "ctx_arb": _ctx_arb,
    "nop": _nop,
    **{name: _br for name in CONDITIONS},
    **{("immed_" + w if w else "immed"): _immed for w in IMMED_FORMS},
}


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


def parse_insn(text: str, line: int | None = None) -> NfpInsn:
    name, args, rest = _split(text.strip(), line)
    parser = PARSERS.get(name)
    if parser is None:
        raise AsmError(f"unknown instruction {name!r}", line)
    insn = parser(name, args, line)
    suffixes = _SUFFIX.findall(rest)
    if _SUFFIX.sub("", rest).strip():
        raise AsmError(f"unexpected text {rest.strip()!r} after {name}", line)
    for suffix, arg in suffixes:
        if suffix == "defer":
            insn.defer = int(arg)
        elif suffix in CTX_SWAP_MODES and insn.kind == "mem":
            insn.sync, insn.sig = suffix, _signal(arg, line)
        else:
            raise AsmError(f"unexpected {suffix}[...] after {name}", line)
    if insn.kind == "mem" and not insn.sync:
        raise AsmError("a memory command needs ctx_swap[sigN] or sig_done[sigN]", line)
    if insn.kind in ("ld_field",) and insn.dst is NONE:
        raise AsmError("ld_field needs a destination", line)
    return insn


def assemble(text: str) -> tuple[list[NfpInsn], dict[str, int]]:
    insns: list[NfpInsn] = []
    labels: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        body, _, comment = raw.partition(";")
        body = body.strip()
        if not body:
            continue
        if body.endswith(":") and _LABEL.match(body[:-1]):
            if body[:-1] in labels:
                raise AsmError(f"label {body[:-1]!r} defined twice", number)
            labels[body[:-1]] = len(insns)
            continue
        body = re.sub(r"^\d+\s+", "", body)  # listings with addresses
        insn = parse_insn(body, number)
        insn.note = comment.strip()
        insns.append(insn)
    return insns, labels
