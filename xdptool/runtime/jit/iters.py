"""The number iterator kfuncs in native code (runtime/kfuncs.py bpf_iter_num_new/_next/_destroy).

The iterator is the 8 bytes of `struct bpf_iter_num_kern` on the program's stack (kfuncs.ITER_NUM:
the current value and the end, two ints); every load and store of it is a checked helper access,
as the interpreter's reads and writes are, and the element `_next` returns is the iterator's own
address (&cur), as the kernel's is.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...ebpf.semantics import BPF_MAX_LOOPS
from ..kfuncs import ITER_NUM
from .irtypes import I32, I64, c64

if TYPE_CHECKING:
    from .translate import Translator

_ZERO32 = ir.Constant(I32, 0)


def _words(t: "Translator", b: ir.IRBuilder, insn, it: ir.Value, read: bool = False) -> tuple:
    """Pointers to the iterator's cur and end (a checked write access of its 8 bytes, after a
    checked read when the interpreter reads them first)."""
    if read:
        t.memory.access(t, b, insn, it, ITER_NUM.size, write=False, helper=True)
    host = t.memory.access(t, b, insn, it, ITER_NUM.size, write=True, helper=True)
    cur = b.bitcast(host, I32.as_pointer())
    return cur, b.gep(cur, [c64(1)])


def _store(b: ir.IRBuilder, words, cur: ir.Value, end: ir.Value) -> None:
    b.store(cur, words[0], align=1)
    b.store(end, words[1], align=1)


def num_new(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    words = _words(t, b, insn, args[0])
    start, end = b.trunc(args[1], I32), b.trunc(args[2], I32)
    invalid = b.icmp_signed(">", start, end)
    span = b.sub(b.sext(end, I64), b.sext(start, I64))
    big = b.icmp_signed(">", span, c64(BPF_MAX_LOOPS))
    failed = b.or_(invalid, big)
    _store(b, words, b.select(failed, _ZERO32, b.sub(start, ir.Constant(I32, 1))), b.select(failed, _ZERO32, end))
    return b.select(invalid, c64(-errno.EINVAL), b.select(big, c64(-errno.E2BIG), c64(0)))


def num_next(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    words = _words(t, b, insn, args[0], read=True)
    cur, end = b.load(words[0], align=1), b.load(words[1], align=1)
    step = b.add(cur, ir.Constant(I32, 1))
    done = b.icmp_signed(">=", step, end)
    _store(b, words, b.select(done, _ZERO32, step), b.select(done, _ZERO32, end))
    return b.select(done, c64(0), args[0])


def num_destroy(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    _store(b, _words(t, b, insn, args[0]), _ZERO32, _ZERO32)
    return c64(0)


KFUNC_NATIVES = {
    "bpf_iter_num_new": num_new,
    "bpf_iter_num_next": num_next,
    "bpf_iter_num_destroy": num_destroy,
}
