"""How an NFP instruction form is declared (the declarations are isa.FORMS).

A `Form` is one instruction form: its text syntax, its token (tokens.py) and
its parts.  A part maps some of the instruction's attributes onto some of the
token's fields, both ways (`encode`, `decode`), and may declare operand
`Slot`s: which attribute is an operand, whether it is read and/or written, and
its operand field (registers.OperandCode, which carries the limits).  The
encoder, decoder, printer, parser, the def/use sets and the executor's static
operand rules all walk these declarations; nothing here knows a kind by name.

The syntax is a template, `alu[{dst}, {a}, {op}, {b}]`: a mnemonic, arguments
in brackets (`?` marks a trailing optional one), and suffixes after the
brackets (`{defer}`, `{sync}`).  An argument's text form is chosen by its
name, or by `{attr:codec}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import AsmError
from .registers import (
    NONE,
    Gpr,
    Imm,
    Operand,
    OperandCode,
    Shift,
    Xfer,
    lm_ext,
    parse_operand,
    with_lm_ext,
)
from .tokens import EncodeError, Token


class NoMatch(Exception):
    """A word is not this form (another form of the same token may be)."""


@dataclass(frozen=True)
class Slot:
    """An operand attribute: read ("r"), written ("w") or both, in a field of kind `code`."""

    attr: str
    access: str
    code: OperandCode
    required: bool = False  # "--" is not an operand here

    @property
    def reads(self) -> bool:
        return "r" in self.access

    @property
    def writes(self) -> bool:
        return "w" in self.access


def pair_problem(a: Operand, b: Operand) -> str | None:
    """Two sources of one instruction come from different classes (nfp_asm.c swreg_to_unrestricted)."""
    if a is NONE or b is NONE:
        return None
    if isinstance(a, Gpr) and isinstance(b, Gpr):
        return f"{a} and {b}: two sources in bank {a.bank} (the same bank)" if a.bank == b.bank else None
    if a.cls == b.cls:
        return f"{a} and {b}: two sources of class {a.cls} (the same class)"
    return None


def _swap(a: Operand, b: Operand) -> bool:
    """Whether the word holds the two sources as (B, A): a B-bank first or an A-bank second source."""
    return (isinstance(a, Gpr) and a.bank == "B") or (isinstance(b, Gpr) and b.bank == "A")


def _banks(op: Operand) -> tuple[int, int]:
    """(DST_AB, WR_AB) for a destination."""
    if isinstance(op, Gpr):
        return int(op.bank == "B"), int(op.bank == "AB")
    return 0, 0


def _bank(dst_ab: int, wr_ab: int) -> str:
    return "AB" if wr_ab else ("B" if dst_ab else "A")


# == parts ===========================================================================================
class Part:
    slots: tuple[Slot, ...] = ()
    operand_rules = False  # its `problems` are rules on operands (which code with virtual registers skips)

    def accepts(self, insn) -> bool:
        """Whether this form can hold `insn` (picks among the forms of one kind)."""
        return True

    def problems(self, insn) -> Iterator[str]:
        """Rules on the attributes beyond each slot's own (source pairs, counts)."""
        return iter(())

    def encode(self, insn, fields: dict[str, int]) -> None:
        raise NotImplementedError

    def decode(self, fields: dict[str, int], attrs: dict[str, Any]) -> None:
        raise NotImplementedError


class Const(Part):
    """A field with a fixed value; `strict`: a word whose field differs is not this form."""

    def __init__(self, field: str, value: int, strict: bool = True):
        self.field, self.value, self.strict = field, value, strict

    def encode(self, insn, fields):
        fields[self.field] = self.value

    def decode(self, fields, attrs):
        if self.strict and fields[self.field] != self.value:
            raise NoMatch(f"{self.field} {fields[self.field]:#x}")


class Number(Part):
    """An attribute held in a field as is."""

    def __init__(self, attr: str, field: str):
        self.attr, self.field = attr, field

    def encode(self, insn, fields):
        fields[self.field] = int(getattr(insn, self.attr))

    def decode(self, fields, attrs):
        attrs[self.attr] = fields[self.field]


class Flag(Number):
    def decode(self, fields, attrs):
        attrs[self.attr] = bool(fields[self.field])


class Enum(Part):
    """A named attribute held as a code in one field or a tuple of codes in several."""

    def __init__(self, attr: str, fields: str | tuple[str, ...], table: dict[str, Any], what: str):
        self.attr, self.what = attr, what
        self.fields = (fields,) if isinstance(fields, str) else fields
        self.table = {name: code if isinstance(code, tuple) else (code,) for name, code in table.items()}
        self.names = {code: name for name, code in reversed(self.table.items())}  # the first name wins

    def accepts(self, insn):
        return getattr(insn, self.attr) in self.table

    def encode(self, insn, fields):
        codes = self.table.get(getattr(insn, self.attr))
        if codes is None:
            raise EncodeError(f"unknown {self.what} {getattr(insn, self.attr)!r}")
        fields.update(zip(self.fields, codes))

    def decode(self, fields, attrs):
        codes = tuple(fields[f] for f in self.fields)
        if codes not in self.names:
            raise NoMatch(f"unknown {self.what} code {', '.join(map(hex, codes))}")
        attrs[self.attr] = self.names[codes]


def address(target: Any) -> int:
    """A branch target once linked (image.link resolves labels to addresses)."""
    if not isinstance(target, int):
        raise EncodeError(f"branch to unresolved label {target!r}")
    return target


class Address(Part):
    """A branch target: 13 bits in `lo`, the rest in `hi`."""

    def __init__(self, attr: str = "target", lo: str = "addr_lo", hi: str = "addr_hi"):
        self.attr, self.lo, self.hi = attr, lo, hi

    def encode(self, insn, fields):
        target = address(getattr(insn, self.attr))
        fields[self.lo], fields[self.hi] = target & 0x1FFF, target >> 13

    def decode(self, fields, attrs):
        attrs[self.attr] = fields[self.lo] | fields[self.hi] << 13


class ShiftField(Part):
    """A `Shift` as (shift class, 5-bit amount); left shifts by n are encoded as 32 - n
    (bpf/jit.c __emit_shf).  `none` is what a word without a shift decodes to."""

    def __init__(self, classes: dict[str, int], none: Any, attr: str = "shift", sc: str = "sc",
                 amount: str = "shift"):
        self.classes, self.none, self.attr, self.sc, self.amount = classes, none, attr, sc, amount
        self.kinds = {code: kind for kind, code in reversed(classes.items())}

    def encode(self, insn, fields):
        shift = getattr(insn, self.attr)
        if shift is None or (shift.kind == ">>rot" and shift.amount == 0):
            fields[self.sc], fields[self.amount] = 0, 0
        elif shift.amount is None:  # indirect: the amount comes from the previous ALU result
            fields[self.sc], fields[self.amount] = self.classes[shift.kind], 0
        elif shift.amount == 0:
            raise EncodeError(f"shift {shift} by 0 has no encoding (use no shift)")
        else:
            fields[self.sc] = self.classes[shift.kind]
            fields[self.amount] = 32 - shift.amount if shift.kind == "<<" else shift.amount

    def decode(self, fields, attrs):
        sc, amount = fields[self.sc], fields[self.amount]
        kind = self.kinds[sc]
        if sc == 0:
            attrs[self.attr] = Shift(kind, amount) if amount else self.none
        elif amount == 0:
            attrs[self.attr] = Shift(kind, None)
        else:
            attrs[self.attr] = Shift(kind, 32 - amount if kind == "<<" else amount)


class Dest(Part):
    """The destination: an operand field, the bank bits (DST_AB: bank B; WR_AB: both banks)
    and the LM extension bit."""

    def __init__(self, code: OperandCode, field: str = "dst", attr: str = "dst"):
        self.code, self.field, self.attr = code, field, attr
        self.slots = (Slot(attr, "w", code),)

    def encode(self, insn, fields):
        dst = getattr(insn, self.attr)
        fields[self.field] = self.code.encode(dst, True)[0]
        fields["dst_ab"], fields["wr_ab"] = _banks(dst)
        fields["dst_lmextn"] = lm_ext(dst)

    def decode(self, fields, attrs):
        op = self.code.decode(fields[self.field], _bank(fields["dst_ab"], fields["wr_ab"]), 0, True)
        attrs[self.attr] = with_lm_ext(op, fields["dst_lmextn"])


class Source(Part):
    """One source alone in a field of bank B; an empty field ("--" encodes as 0) reads back as "--"."""

    def __init__(self, code: OperandCode, field: str = "b", attr: str = "b"):
        self.code, self.field, self.attr = code, field, attr
        self.slots = (Slot(attr, "r", code),)

    def encode(self, insn, fields):
        fields[self.field] = self.code.encode(getattr(insn, self.attr), False)[0]

    def decode(self, fields, attrs):
        op = self.code.decode(fields[self.field], "B")
        attrs[self.attr] = NONE if op == Gpr("B", 0) else op


class Sources(Part):
    """Two sources in the A and B fields, swapped when the first is in bank B or the second in
    bank A; `swap`: the field that records it (without one the word keeps them in field order);
    `i8`: the field holding a restricted immediate's bit 7; `ext`: the LM extension bit.
    `unused_first(attrs)`: the operation reads only the second source (the first encodes as "--")."""

    operand_rules = True

    def __init__(self, first: Slot, second: Slot, swap: str | None = None, i8: str | None = None,
                 ext: str | None = None, unused_first: Callable[[dict], bool] | None = None):
        self.slots, self.code = (first, second), first.code
        self.swap_field, self.i8, self.ext, self.unused_first = swap, i8, ext, unused_first

    def operands(self, insn) -> tuple[Operand, Operand]:
        """The two sources as the word holds them ("--" for an unused first)."""
        first, second = (getattr(insn, s.attr) for s in self.slots)
        if self.unused_first is not None and self.unused_first(vars(insn)):
            first = NONE
        return first, second

    def swapped(self, insn) -> bool:
        return _swap(*self.operands(insn))

    def problems(self, insn):
        problem = pair_problem(*self.operands(insn))
        if problem:
            yield problem

    def encode(self, insn, fields):
        first, second = self.operands(insn)
        swap = _swap(first, second)
        if swap:
            first, second = second, first
        (fields["a"], i8a), (fields["b"], i8b) = self.code.encode(first, False), self.code.encode(second, False)
        if self.swap_field:
            fields[self.swap_field] = int(swap)
        if self.i8:
            fields[self.i8] = i8a | i8b
        if self.ext:
            fields[self.ext] = lm_ext(first) | lm_ext(second)

    def decode(self, fields, attrs):
        i8 = fields[self.i8] if self.i8 else 0
        ext = fields[self.ext] if self.ext else 0
        first = with_lm_ext(self.code.decode(fields["a"], "A", i8), ext)
        second = with_lm_ext(self.code.decode(fields["b"], "B", i8), ext)
        if self.swap_field and fields[self.swap_field]:
            first, second = second, first
        if self.unused_first is not None and self.unused_first(attrs):
            first = NONE
        attrs[self.slots[0].attr], attrs[self.slots[1].attr] = first, second


class BothBanks(Part):
    """A destination placed by `Sources` (ld_field's): WR_AB for both banks, its LM extension bit."""

    def __init__(self, attr: str = "dst"):
        self.attr = attr

    def encode(self, insn, fields):
        dst = getattr(insn, self.attr)
        fields["wr_ab"] = _banks(dst)[1]
        fields["dst_lmextn"] = lm_ext(dst)

    def decode(self, fields, attrs):
        dst = attrs[self.attr]
        if fields["wr_ab"] and isinstance(dst, Gpr):
            attrs[self.attr] = Gpr("AB", dst.index)


class Immediate:
    """What a `WithImmediate` part's immediate carries: `get(insn)` the number, `put(attrs, n)` back."""

    def __init__(self, get: Callable[[Any], int], put: Callable[[dict, int], None]):
        self.get, self.put = get, put


def _zero(attrs: dict, value: int) -> None:
    if value:
        raise NoMatch(f"immediate {value:#x}")


ZERO = Immediate(lambda insn: 0, _zero)


class WithImmediate(Part):
    """An operand and an immediate sharing the A and B fields (immed's destination and value,
    a bit branch's register and bit, rtn/jump's register and label, local_csr_wr's source):
    the operand in field A unless it is a bank-B register; bits above 8 of the immediate in
    `hi`; `ext`: the fields the operand's LM extension bit goes to (the first is read back);
    `both`: the field saying a destination is written to both banks."""

    operand_rules = True

    def __init__(self, slot: Slot, imm: Immediate, hi: str | None = None, ext: tuple[str, ...] = ("src_lmextn",),
                 both: str | None = None, dst: bool = False):
        self.slots, self.slot, self.code, self.imm = (slot,), slot, slot.code, imm
        self.hi, self.ext, self.both = hi, ext, both
        self.written = dst  # a destination field: "--" encodes as no destination, $xfer reads back as out

    def _operands(self, insn) -> tuple[Operand, Imm]:
        value = self.imm.get(insn)
        return getattr(insn, self.slot.attr), Imm(value & 0xFF if self.hi else value)

    def problems(self, insn):
        try:
            op, imm = self._operands(insn)
        except EncodeError:  # an unresolved label: the encoder says so
            return
        for problem in (self.code.problem(imm, False), pair_problem(op, imm)):
            if problem:
                yield problem

    def encode(self, insn, fields):
        op, imm = self._operands(insn)
        if isinstance(op, Gpr) and op.bank == "AB":
            op = Gpr("A", op.index)
        a, b = (imm, op) if _swap(op, imm) else (op, imm)
        fields["a"] = self.code.encode(a, self.written and a is op)[0]
        fields["b"] = self.code.encode(b, self.written and b is op)[0]
        if self.hi:
            fields[self.hi] = self.imm.get(insn) >> 8
        for field in self.ext:
            fields[field] = lm_ext(op)
        if self.both:
            fields[self.both] = _banks(getattr(insn, self.slot.attr))[1]

    def decode(self, fields, attrs):
        a, b = fields["a"], fields["b"]
        op_bits, imm_bits, bank = (b, a, "B") if self.code.holds_imm(a) and not self.code.holds_imm(b) else (a, b, "A")
        op = with_lm_ext(self.code.decode(op_bits, bank, 0, self.written), fields[self.ext[0]])
        if self.both and fields[self.both] and isinstance(op, Gpr):
            op = Gpr("AB", op.index)
        imm = self.code.decode(imm_bits, "B")
        if not isinstance(imm, Imm):
            raise NoMatch(f"no immediate beside {op}")
        self.imm.put(attrs, imm.value | (fields[self.hi] << 8 if self.hi else 0))
        attrs[self.slot.attr] = op


class BothFields(Part):
    """An immediate source written to both the A and B fields (jit.c emit_csr_wr)."""

    def __init__(self, code: OperandCode, attr: str = "b"):
        self.code, self.attr = code, attr
        self.slots = (Slot(attr, "r", code),)

    def accepts(self, insn):
        return isinstance(getattr(insn, self.attr), Imm)

    def encode(self, insn, fields):
        fields["a"] = fields["b"] = self.code.encode(getattr(insn, self.attr), False)[0]

    def decode(self, fields, attrs):
        if not (self.code.holds_imm(fields["a"]) and fields["a"] == fields["b"]):
            raise NoMatch("not one immediate in both fields")
        attrs[self.attr] = self.code.decode(fields["a"], "A")


class Special(Part):
    """A part whose mapping is a pair of functions, for one-off fields (memory commands' count,
    signalling, transfer register; ctx_arb's signal mask)."""

    def __init__(self, encode: Callable[[Any, dict], None], decode: Callable[[dict, dict], None],
                 problems: Callable[[Any], Iterator[str]] | None = None):
        self._encode, self._decode, self._problems = encode, decode, problems

    def problems(self, insn):
        return self._problems(insn) if self._problems else iter(())

    def encode(self, insn, fields):
        self._encode(insn, fields)

    def decode(self, fields, attrs):
        self._decode(fields, attrs)


# == syntax ==========================================================================================
class Arg:
    """One argument's text form: `text(insn)` (None: an optional argument left out) and `parse`."""

    def __init__(self, attr: str, optional: bool = False):
        self.attr, self.optional = attr, optional

    def text(self, insn) -> str | None:
        return str(getattr(insn, self.attr))

    def parse(self, text: str, attrs: dict, form: "Form", line: int | None) -> None:
        raise NotImplementedError


class OperandArg(Arg):
    def parse(self, text, attrs, form, line):
        attrs[self.attr] = parse_operand(text, line)


class EnumArg(Arg):
    """A name from the table of the form's `Enum` part for this attribute."""

    def parse(self, text, attrs, form, line):
        part = form.enum(self.attr)
        if text not in part.table:
            raise AsmError(f"unknown {part.what} {text!r}", line)
        attrs[self.attr] = text


class IntArg(Arg):
    def parse(self, text, attrs, form, line):
        try:
            attrs[self.attr] = int(text, 0)
        except ValueError:
            raise AsmError(f"bad number {text!r}", line) from None


class MaskArg(Arg):
    """ld_field's byte mask as 4 binary digits."""

    def text(self, insn):
        return format(getattr(insn, self.attr) & 0xF, "04b")

    def parse(self, text, attrs, form, line):
        if not re.fullmatch(r"[01]{4}", text):
            raise AsmError(f"bad byte mask {text!r} (4 binary digits)", line)
        attrs[self.attr] = int(text, 2)


_SHIFT = re.compile(r"^(<<|>>rot|>>dbl|>>)(indirect|\d+)$")


def parse_shift(text: str, line: int | None) -> Shift:
    match = _SHIFT.match(text.strip())
    if not match:
        raise AsmError(f"bad shift {text!r}", line)
    amount = None if match[2] == "indirect" else int(match[2])
    if amount is not None and not 0 <= amount <= 31:
        raise AsmError(f"shift amount {amount} outside 0..31", line)
    return Shift(match[1], amount)


class ShiftArg(Arg):
    """A shift; when optional, printed unless it is absent or by 0."""

    def text(self, insn):
        shift = getattr(insn, self.attr)
        if self.optional and (shift is None or shift.amount == 0):
            return None
        return str(shift)

    def parse(self, text, attrs, form, line):
        attrs[self.attr] = parse_shift(text, line)


class ByteShiftArg(ShiftArg):
    """immed's optional `<<8`, `<<16` or `<<24`."""

    def parse(self, text, attrs, form, line):
        shift = parse_shift(text, line)
        if shift.kind != "<<" or shift.amount not in (8, 16, 24):
            raise AsmError("immed shifts by <<8, <<16 or <<24", line)
        attrs[self.attr] = shift


LABEL = re.compile(r"^[A-Za-z_.][\w.]*$")


def label_or_int(text: str, line: int | None):
    text = text.strip()
    if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", text):
        return int(text, 0)
    if LABEL.match(text):
        return text
    raise AsmError(f"bad branch target {text!r}", line)


class TargetArg(Arg):
    """A branch target: a label (linked images keep its name in meta) or an address."""

    def text(self, insn):
        return str(insn.meta.get("label", insn.target))

    def parse(self, text, attrs, form, line):
        attrs[self.attr] = label_or_int(text, line)


class ImmedArg(Arg):
    """immed's value: `~` for inverted, then a number of the form's width or a label."""

    def text(self, insn):
        value = TargetArg("target").text(insn) if insn.target is not None else hex(insn.value)
        return f"{'~' if insn.invert else ''}{value}"

    def parse(self, text, attrs, form, line):
        attrs["invert"] = text.startswith("~")
        value = label_or_int(text.lstrip("~"), line)
        if isinstance(value, str):
            attrs["value"], attrs["target"] = 0, value
            return
        bits = form.value_bits
        if not 0 <= value < 1 << bits:
            raise AsmError(f"immed value {value:#x} does not fit {bits} bits", line)
        attrs["value"] = value


class CsrArg(EnumArg):
    """A local CSR by name or by address (the form's table holds address / 4)."""

    def parse(self, text, attrs, form, line):
        if re.fullmatch(r"0x[0-9a-fA-F]+|\d+", text) and int(text, 0) % 4 == 0:
            text = form.enum(self.attr).names.get((int(text, 0) // 4,), text)
        super().parse(text, attrs, form, line)


def parse_signal(text: str, line: int | None) -> int:
    match = re.fullmatch(r"sig(\d+)", text.strip())
    if not match or not 0 <= int(match[1]) <= 15:
        raise AsmError(f"bad signal {text!r} (sig0..sig15; sig0: nobody waits)", line)
    return int(match[1])


class SignalArg(Arg):
    """ctx_arb's signal: sigN, or `voluntary` (sig0)."""

    def text(self, insn):
        sig = getattr(insn, self.attr)
        return f"sig{sig}" if sig else "voluntary"

    def parse(self, text, attrs, form, line):
        attrs[self.attr] = 0 if text == "voluntary" else parse_signal(text, line)


class MemOptionsArg(Arg):
    """A memory command's trailing options, in any order: an address mode, `indirect_ref`."""

    count = 2

    def text(self, insn):
        return ", ".join(o for o in (insn.mode, "indirect_ref" if insn.indirect else "") if o) or None

    def parse_all(self, texts: list[str], attrs: dict, form: "Form", line: int | None) -> None:
        modes = form.enum("mode").table
        unknown = [o for o in texts if o not in modes and o != "indirect_ref"]
        if unknown:
            raise AsmError(f"unknown memory command option {unknown[0]!r}", line)
        attrs["mode"] = next((o for o in texts if o in modes), "")
        attrs["indirect"] = "indirect_ref" in texts


class Suffix(Arg):
    """Text after the brackets, `, name[arg]`: the names it answers to in `form`, and its parse."""

    def names(self, form: "Form") -> tuple[str, ...]:
        raise NotImplementedError

    def parse_suffix(self, name: str, text: str, attrs: dict, line: int | None) -> None:
        raise NotImplementedError


class DeferSuffix(Suffix):
    """`defer[n]`: the instructions after a branch or memory command that run before it acts."""

    def names(self, form: "Form") -> tuple[str, ...]:
        return ("defer",)

    def text(self, insn):
        return f"defer[{insn.defer}]" if insn.defer else None

    def parse_suffix(self, name: str, text: str, attrs: dict, line: int | None) -> None:
        if not text.isdigit():
            raise AsmError(f"bad defer count {text!r}", line)
        attrs["defer"] = int(text)


class SyncSuffix(Suffix):
    """How a memory command signals, one of the form's `sync_modes`: ctx_swap[sigN] (the thread
    sleeps until the signal) or sig_done[sigN] (it runs on); required where declared."""

    def names(self, form: "Form") -> tuple[str, ...]:
        return tuple(form.sync_modes)

    def text(self, insn):
        return f"{insn.sync}[sig{insn.sig}]" if insn.sync else None

    def parse_suffix(self, name: str, text: str, attrs: dict, line: int | None) -> None:
        attrs["sync"], attrs["sig"] = name, parse_signal(text, line)


CODECS: dict[str, type[Arg]] = {
    "operand": OperandArg, "enum": EnumArg, "int": IntArg, "mask": MaskArg, "shift": ShiftArg,
    "byteshift": ByteShiftArg, "target": TargetArg, "immed": ImmedArg, "csr": CsrArg, "signal": SignalArg,
    "options": MemOptionsArg,
}
DEFAULT_CODEC = {"dst": "operand", "a": "operand", "b": "operand", "op": "enum", "shift": "shift",
                 "target": "target", "value": "int"}
SUFFIXES: dict[str, Suffix] = {"defer": DeferSuffix("defer"), "sync": SyncSuffix("sync")}
_TEMPLATE = re.compile(r"^([a-z_0-9]+)(?:\[(.*)\])?((?:\{\w+\})*)$")
_PLACEHOLDER = re.compile(r"^\{(\w+)(?::(\w+))?(\?)?\}$")


def parse_template(template: str) -> tuple[str, tuple[Arg, ...], tuple[str, ...]]:
    """`mnem[{arg}, {arg:codec}, {arg?}]{suffix}` -> (mnemonic, arguments, suffix names)."""
    match = _TEMPLATE.match(template)
    if not match:
        raise ValueError(f"bad syntax template {template!r}")
    args = []
    for item in (match[2].split(", ") if match[2] else []):
        placeholder = _PLACEHOLDER.match(item)
        if not placeholder:
            raise ValueError(f"bad placeholder {item!r} in {template!r}")
        attr, codec, optional = placeholder.groups()
        args.append(CODECS[codec or DEFAULT_CODEC[attr]](attr, optional=bool(optional)))
    return match[1], tuple(args), tuple(re.findall(r"\{(\w+)\}", match[3]))


# == forms ===========================================================================================
class Form:
    """One instruction form: kind, syntax, token, parts, and the attribute values it implies."""

    def __init__(self, kind: str, syntax: str, token: Token, *parts: Part, fixed: dict | None = None,
                 branch: bool = False, max_defer: int = 0, value_bits: int = 0,
                 sync_modes: tuple[str, ...] = ()):
        self.kind, self.syntax, self.token, self.parts = kind, syntax, token, parts
        self.fixed = fixed or {}
        self.branch, self.max_defer, self.value_bits, self.sync_modes = branch, max_defer, value_bits, sync_modes
        self.mnemonic, self.args, self.suffixes = parse_template(syntax)
        self.brackets = "[" in syntax
        self.slots = tuple(slot for part in parts for slot in part.slots)
        self._checked = sorted(self.slots, key=lambda s: s.attr)
        self.reads = tuple(s.attr for s in self.slots if s.reads)
        self.writes = tuple(s.attr for s in self.slots if s.writes)
        self.operand_fields = sorted({s.attr for s in self.slots})
        self.sources = next((p for p in parts if isinstance(p, Sources)), None)

    def enum(self, attr: str) -> Enum:
        return next(p for p in self.parts if isinstance(p, Enum) and p.attr == attr)

    @property
    def pair(self) -> tuple[str, str] | None:
        if self.sources is None:
            return None
        first, second = self.sources.slots
        return first.attr, second.attr

    @property
    def restricted(self) -> bool:
        return any(s.code.restricted for s in self.slots)

    def matches(self, insn) -> bool:
        return all(getattr(insn, k) == v for k, v in self.fixed.items()) and all(p.accepts(insn) for p in self.parts)

    def problems(self, insn, regs_per_bank: int | None = None, operands: bool = True) -> Iterator[str]:
        """Every rule `insn` breaks: each slot's field limits, then the parts' rules (source pairs,
        counts); `operands=False` leaves out the rules on operands (for virtual registers)."""
        for slot in self._checked if operands else ():
            op = getattr(insn, slot.attr)
            if slot.required and op is NONE:
                yield f"{self.mnemonic} needs a {slot.attr} operand"
            problem = slot.code.problem(op, slot.writes, regs_per_bank)
            if problem:
                yield problem
        for part in self.parts:
            if operands or not part.operand_rules:
                yield from part.problems(insn)

    def encode(self, insn) -> int:
        problem = next(self.problems(insn), None)
        if problem:
            raise EncodeError(problem)
        fields: dict[str, int] = {}
        for part in self.parts:
            part.encode(insn, fields)
        return self.token.pack(fields)

    def decode(self, word: int) -> dict[str, Any]:
        fields = self.token.unpack(word)
        attrs = dict(self.fixed)
        for part in self.parts:
            part.decode(fields, attrs)
        return attrs

    def __repr__(self) -> str:
        return f"<Form {self.syntax}>"


def mem_xfer_problems(insn, direction: str) -> Iterator[str]:
    """A memory command's transfer register: the direction its command moves data."""
    wanted = "in" if direction == "read" else "out"
    if not isinstance(insn.dst, Xfer):
        yield f"memory command transfer operand {insn.dst} is not a transfer register"
    elif insn.dst.direction != wanted:
        yield f"{insn.dst}: a {insn.dst.direction} transfer register in a {direction} command"
