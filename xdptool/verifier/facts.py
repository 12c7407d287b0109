"""Per-instruction facts merged over every state the verifier visited there.

The NFP lowering asks, for each pc: which types a register can have, whether
it is always the same constant, whether its upper 32 bits are known zero, the
smallest proven packet range, what the stack slots hold, whether a divisor is
a constant and which map a map pointer names.
"""

from __future__ import annotations

from .state import Reg, RegType, State

_MIXED = object()


class RegFact:
    """What one register held at one pc over every state that reached it (plain classes here:
    a dataclass costs ~1 ms to create at the first analysis in a process)."""

    __slots__ = ("types", "const", "upper_zero", "umax", "pkt_range", "maps", "_seen_const")

    def __init__(self):
        self.types: set[str] = set()
        self.const: object = None  # int when the same constant in every state, else None
        self.upper_zero = True  # bits 63..32 known zero in every state (scalars)
        self.umax = 0  # largest unsigned value seen (scalars)
        self.pkt_range: int | None = None  # smallest proven range (packet pointers)
        self.maps: set[str] = set()
        self._seen_const: object = None

    def __repr__(self) -> str:
        return (f"RegFact(types={self.types!r}, const={self.const!r}, upper_zero={self.upper_zero!r}, "
                f"umax={self.umax!r}, pkt_range={self.pkt_range!r}, maps={self.maps!r})")

    def merge(self, reg: Reg) -> None:
        self.types.add(reg.type.value)
        if reg.type is RegType.SCALAR:
            value = reg.const_value if reg.is_const else _MIXED
            if self._seen_const is None:
                self._seen_const = value
            elif self._seen_const != value:
                self._seen_const = _MIXED
            self.const = None if self._seen_const is _MIXED else self._seen_const
            self.upper_zero = self.upper_zero and reg.umax <= 0xFFFFFFFF
            self.umax = max(self.umax, reg.umax)
        else:
            self._seen_const = _MIXED
            self.const = None
            self.upper_zero = False
        if reg.type.is_pkt:
            self.pkt_range = reg.range if self.pkt_range is None else min(self.pkt_range, reg.range)
        if reg.map is not None:
            self.maps.add(reg.map.name)


class PcFacts:
    __slots__ = ("regs", "stack", "visits")

    def __init__(self):
        self.regs: dict[int | str, RegFact] = {}  # register number (or "divisor") -> its fact
        self.stack: dict[int, set[str]] = {}  # frame offset of slot -> kinds seen
        self.visits = 0

    def __repr__(self) -> str:
        return f"PcFacts(regs={self.regs!r}, stack={self.stack!r}, visits={self.visits!r})"

    def reg(self, regno: int) -> RegFact | None:
        return self.regs.get(regno)

    @property
    def divisor_const(self) -> int | None:
        """Constant value of the divisor register, when this is a div/mod by register."""
        return self.regs["divisor"].const if "divisor" in self.regs else None


def record(facts: dict[int, PcFacts], pc: int, state: State, divisor: int | None, live: int = 0x7FF) -> None:
    entry = facts.get(pc)
    if entry is None:
        entry = facts[pc] = PcFacts()
    entry.visits += 1
    frame = state.cur
    for i, reg in enumerate(frame.regs):
        if reg.type is RegType.NOT_INIT or not live >> i & 1:
            continue
        fact = entry.regs.get(i)
        if fact is None:
            fact = entry.regs[i] = RegFact()
        fact.merge(reg)
    if divisor is not None:
        fact = entry.regs.get("divisor")
        if fact is None:
            fact = entry.regs["divisor"] = RegFact()
        fact.merge(frame.regs[divisor])
    for spi, slot in frame.stack.items():
        kinds = entry.stack.setdefault(-(spi + 1) * 8, set())
        kinds.add(slot.spilled.type.value if slot.is_spill and slot.spilled is not None else "".join(slot.kinds))
