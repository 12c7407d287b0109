"""Mutable records without dataclasses' start-up cost.

A dataclass compiles its __init__, __repr__ and __eq__ with exec when its class is made,
~0.4 ms each at every start of every command.  A `Record` subclass writes its __init__
by hand and names its fields once (FIELDS, in the __init__'s order); this base gives what
the dataclass did: `==` over the fields (unhashable, as a dataclass that compares by value),
repr(), `replace(**changes)` and `as_dict()`.
"""

from __future__ import annotations

from typing import Any


class Record:
    """See the module doc; HIDDEN fields are left out of repr(), UNCOMPARED ones out of `==`."""

    FIELDS: tuple[str, ...] = ()
    HIDDEN: tuple[str, ...] = ()
    UNCOMPARED: tuple[str, ...] = ()
    __hash__ = None  # type: ignore[assignment]

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def replace(self, **changes: Any):
        """A copy with `changes` (its __init__ runs again, checks included)."""
        return type(self)(**{**self.as_dict(), **changes})

    def _compared(self) -> tuple:
        return tuple(getattr(self, name) for name in self.FIELDS if name not in self.UNCOMPARED)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self is other or self._compared() == other._compared()  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS if name not in self.HIDDEN)
        return f"{type(self).__name__}({shown})"
