"""What the verifier's walk runs for one instruction (checker.py's general handlers, fastpath.py's fast forms).

A handler is an object with a `run` method rather than a function, so that the
compiled walk calls it through a C method table (handler.pxd) instead of making a
Python call per instruction.  Its own module so that checker.py and fastpath.py
(which checker.py imports) can both derive from it.
"""

from __future__ import annotations


class Handler:
    """`run(insn)`: the next pc, None for the next slot, or checker.END at the program's final exit."""

    __slots__ = ()

    def run(self, insn):
        raise NotImplementedError(type(self).__name__)
