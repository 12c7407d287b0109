"""Tristate numbers: the verifier's bit-level knowledge of a 64-bit value.

A tnum (value, mask) stands for every integer x with x & ~mask == value: bits in
`mask` are unknown, the others are known and equal to `value`.  The operations
follow the definitions of the Linux kernel's kernel/bpf/tnum.c (Edward Cree's
tristate numbers); each is sound: the result contains every concrete result of
every pair of members.
"""

from __future__ import annotations

from typing import NamedTuple

U64 = (1 << 64) - 1
U32 = (1 << 32) - 1
# Tnum(value, mask) without NamedTuple's Python-level __new__ (a frame per construction):
# the same tuple, made by tuple.__new__ directly
_new_tuple = tuple.__new__


class Tnum(NamedTuple):
    value: int
    mask: int

    # -- construction ----------------------------------------------------------
    @staticmethod
    def const(v: int) -> "Tnum":
        return _new_tuple(Tnum, (v & U64, 0))

    @staticmethod
    def range(lo: int, hi: int) -> "Tnum":
        """The smallest tnum holding every value in [lo, hi] (unsigned)."""
        chi = (lo ^ hi) & U64
        bits = chi.bit_length()
        if bits > 63:
            return UNKNOWN
        delta = (1 << bits) - 1
        return _new_tuple(Tnum, (lo & ~delta & U64, delta))

    # -- queries ---------------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return self.mask == 0

    @property
    def is_unknown(self) -> bool:
        return self.mask == U64

    @property
    def umin(self) -> int:
        return self.value

    @property
    def umax(self) -> int:
        return self.value | self.mask

    def equals_const(self, v: int) -> bool:
        return self.mask == 0 and self.value == v & U64

    def is_aligned(self, size: int) -> bool:
        if not size:
            return True
        return not ((self.value | self.mask) & (size - 1))

    def contains(self, other: "Tnum") -> bool:
        """True when every member of `other` is a member of self (kernel tnum_in)."""
        if other.mask & ~self.mask:
            return False
        return self.value == other.value & ~self.mask

    def __str__(self) -> str:
        return f"({self.value:#x}; {self.mask:#x})"

    # -- arithmetic ------------------------------------------------------------
    def lshift(self, shift: int) -> "Tnum":
        return _new_tuple(Tnum, ((self.value << shift) & U64, (self.mask << shift) & U64))

    def rshift(self, shift: int) -> "Tnum":
        return _new_tuple(Tnum, (self.value >> shift, self.mask >> shift))

    def arshift(self, shift: int, bits: int = 64) -> "Tnum":
        """Arithmetic shift right within a `bits`-wide value (32 or 64)."""
        width_mask = (1 << bits) - 1
        return _new_tuple(Tnum, (_sar(self.value, shift, bits) & width_mask, _sar(self.mask, shift, bits) & width_mask))

    def add(self, other: "Tnum") -> "Tnum":
        sm = (self.mask + other.mask) & U64
        sv = (self.value + other.value) & U64
        sigma = (sm + sv) & U64
        chi = sigma ^ sv
        mu = chi | self.mask | other.mask
        return _new_tuple(Tnum, (sv & ~mu & U64, mu))

    def sub(self, other: "Tnum") -> "Tnum":
        dv = (self.value - other.value) & U64
        alpha = (dv + self.mask) & U64
        beta = (dv - other.mask) & U64
        chi = alpha ^ beta
        mu = chi | self.mask | other.mask
        return _new_tuple(Tnum, (dv & ~mu & U64, mu))

    def neg(self) -> "Tnum":
        return ZERO.sub(self)

    def and_(self, other: "Tnum") -> "Tnum":
        alpha = self.value | self.mask
        beta = other.value | other.mask
        v = self.value & other.value
        return _new_tuple(Tnum, (v, alpha & beta & ~v & U64))

    def or_(self, other: "Tnum") -> "Tnum":
        v = self.value | other.value
        mu = self.mask | other.mask
        return _new_tuple(Tnum, (v, mu & ~v & U64))

    def xor(self, other: "Tnum") -> "Tnum":
        v = self.value ^ other.value
        mu = self.mask | other.mask
        return _new_tuple(Tnum, (v & ~mu & U64, mu))

    def mul(self, other: "Tnum") -> "Tnum":
        """Long multiplication over the known and unknown bits of `self`."""
        a, b = self, other
        acc_v = (a.value * b.value) & U64
        acc_m = ZERO
        while a.value or a.mask:
            if a.value & 1:
                acc_m = acc_m.add(_new_tuple(Tnum, (0, b.mask)))
            elif a.mask & 1:
                acc_m = acc_m.add(_new_tuple(Tnum, (0, b.value | b.mask)))
            a = a.rshift(1)
            b = b.lshift(1)
        return _new_tuple(Tnum, (acc_v, 0)).add(acc_m)

    def intersect(self, other: "Tnum") -> "Tnum":
        """Values in both (assumes they overlap; used for refinement)."""
        v = self.value | other.value
        mu = self.mask & other.mask
        return _new_tuple(Tnum, (v & ~mu & U64, mu))

    def cast(self, size: int) -> "Tnum":
        """Truncate to the low `size` bytes (zero-extended)."""
        m = (1 << (size * 8)) - 1
        return _new_tuple(Tnum, (self.value & m, self.mask & m))

    # -- 32-bit subregister ------------------------------------------------------
    def subreg(self) -> "Tnum":
        return self.cast(4)

    def clear_subreg(self) -> "Tnum":
        return self.rshift(32).lshift(32)

    def with_subreg(self, sub: "Tnum") -> "Tnum":
        return self.clear_subreg().or_(sub.subreg())

    def const_subreg(self, v: int) -> "Tnum":
        return self.with_subreg(Tnum.const(v & U32))


def _sar(v: int, shift: int, bits: int) -> int:
    sign = 1 << (bits - 1)
    v &= (1 << bits) - 1
    if v & sign:
        v -= 1 << bits
    return v >> shift


UNKNOWN = _new_tuple(Tnum, (0, U64))
ZERO = _new_tuple(Tnum, (0, 0))
