"""The run environment shared by native code and Python: one table of fields.

The generated code reaches every piece of run state through one pointer, the
env: initial registers, the instruction budget, the fault report, the region
table that translates tagged addresses, the context field values, the batch
buffers.  The layout is declared once (`FIELDS`, layout.py, without LLVM) and drives both the ctypes
structure Python fills and the GEPs the IR emits, so the two cannot disagree.
Every field is a 64-bit word (pointers included) or an array of them.
"""

from __future__ import annotations

import llvmlite.ir as ir

from .irtypes import I64
from .layout import (  # noqa: F401 - the env's facts, for the IR modules
    ENV_LAYOUT, FIELDS, R_HI, R_HOST, R_LO, R_WRITABLE, REDIRECT_FIELDS, REDIRECT_WORDS, REGION_WORDS, FaultKind,
    RedirectKind, WordLayout,
)


class _Layout(WordLayout):
    """A word layout (layout.py) as the IR addresses it: GEPs into the env."""

    def pointer(self, b: ir.IRBuilder, env: ir.Value, name: str, index: int | ir.Value = 0) -> ir.Value:
        word, count = self.offsets[name]
        if isinstance(index, int):
            if not 0 <= index < count:
                raise IndexError(f"env.{name}[{index}]")
            at: ir.Value = ir.Constant(I64, 8 * (word + index))
        else:
            at = b.add(ir.Constant(I64, 8 * word), b.mul(index, ir.Constant(I64, 8)))
        return b.bitcast(b.gep(env, [at]), I64.as_pointer())

    def load(self, b: ir.IRBuilder, env: ir.Value, name: str, index: int | ir.Value = 0) -> ir.Value:
        return b.load(self.pointer(b, env, name, index))

    def store(self, b: ir.IRBuilder, env: ir.Value, name: str, value: ir.Value,
              index: int | ir.Value = 0) -> None:
        if value.type != I64:
            value = b.zext(value, I64)
        b.store(value, self.pointer(b, env, name, index))


ENV = _Layout(FIELDS)
