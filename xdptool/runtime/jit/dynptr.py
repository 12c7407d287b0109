"""Dynptrs in native code: the dynptr kfuncs (runtime/kfuncs.py) and the dynptr helpers
(runtime/helpers.py dynptr_from_mem/read/write/data), without the Python callback.

A dynptr is the 16 bytes of `struct bpf_dynptr_kern` on the program's stack (helpers.DYNPTR:
data u64, size word u32 with the type from bit 28 and read-only at bit 31, offset u32); every
load and store of it is a checked helper access, as the interpreter's dynptr_load/_store make
it.  An XDP dynptr's bytes are the packet as it is now (the env's packet window), so a slice
is a pointer into the packet region and a read or write copies to or from the frame.  The
ring buffer dynptr helpers (reserve/submit/discard) stay with the Python helpers: a
reservation is a scratch region of the interpreter's address space.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ..helpers import (
    DYNPTR, DYNPTR_LOCAL, DYNPTR_MAX_SIZE, DYNPTR_RDONLY_BIT, DYNPTR_RINGBUF, DYNPTR_SIZE_MASK, DYNPTR_TYPE_SHIFT,
    DYNPTR_XDP,
)
from .env import ENV
from .irtypes import I1, I32, I64, I8P, I64P, c64, join

if TYPE_CHECKING:
    from .translate import Translator

M32 = 0xFFFFFFFF
TYPE_BITS = M32 & ~((1 << DYNPTR_TYPE_SHIFT) - 1)  # type and read-only: what a store keeps besides the size
SPAN_MAX = 0xFFFF  # XdpBuffer.check_span: bpf_xdp_pointer's limit on offset and length


class Dynptr:
    """The fields of a dynptr loaded from `addr` (a checked 16-byte read)."""

    def __init__(self, t: "Translator", b: ir.IRBuilder, insn, addr: ir.Value):
        host = t.memory.access(t, b, insn, addr, DYNPTR.size, write=False, helper=True)
        self.data = b.load(b.bitcast(host, I64P), align=1)
        words = b.bitcast(b.gep(host, [c64(8)]), I32.as_pointer())
        self.word = b.zext(b.load(words, align=1), I64)
        self.offset = b.zext(b.load(b.gep(words, [c64(1)]), align=1), I64)
        self.size = b.and_(self.word, c64(DYNPTR_SIZE_MASK))
        self.kind = b.and_(b.lshr(self.word, c64(DYNPTR_TYPE_SHIFT)), c64(7))
        self.null = b.icmp_unsigned("==", self.data, c64(0))
        self.rdonly = b.icmp_unsigned("!=", b.and_(self.word, c64(DYNPTR_RDONLY_BIT)), c64(0))

    def is_kind(self, b: ir.IRBuilder, kind: int) -> ir.Value:
        return b.icmp_unsigned("==", self.kind, c64(kind))

    def bad_span(self, b: ir.IRBuilder, offset: ir.Value, length: ir.Value) -> ir.Value:
        """helpers.dynptr_check_off_len fails (-E2BIG): length > size or offset > size - length."""
        too_long = b.icmp_unsigned(">", length, self.size)
        return b.or_(too_long, b.icmp_unsigned(">", offset, b.sub(self.size, length)))

    def at(self, b: ir.IRBuilder, offset: ir.Value) -> ir.Value:
        """data + offset + `offset`: where a LOCAL or RINGBUF dynptr's byte `offset` is."""
        return b.add(b.add(self.data, self.offset), offset)


def store_dynptr(t: "Translator", b: ir.IRBuilder, insn, addr: ir.Value, data: ir.Value, word: ir.Value,
                 offset: ir.Value) -> None:
    """helpers.dynptr_store: a checked 16-byte write (zeros for bpf_dynptr_set_null)."""
    host = t.memory.access(t, b, insn, addr, DYNPTR.size, write=True, helper=True)
    b.store(data, b.bitcast(host, I64P), align=1)
    words = b.bitcast(b.gep(host, [c64(8)]), I32.as_pointer())
    b.store(b.trunc(word, I32), words, align=1)
    b.store(b.trunc(offset, I32), b.gep(words, [c64(1)]), align=1)


def _stored(t, b, insn, addr, fail: ir.Value, data: ir.Value, word: ir.Value, offset: ir.Value) -> None:
    """A dynptr stored at `addr`, or the null one where `fail` holds."""
    zero = c64(0)
    store_dynptr(t, b, insn, addr, b.select(fail, zero, data), b.select(fail, zero, word),
                 b.select(fail, zero, offset))


def _u32(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    return b.and_(value, c64(M32))


def _packet_length(t, b) -> ir.Value:
    return b.sub(ENV.load(b, t.env, "pkt_end"), ENV.load(b, t.env, "pkt_data"))


def _frame_at(t, b, start: ir.Value) -> ir.Value:
    """Host pointer to packet byte `start` (frame + data + start)."""
    frame = b.inttoptr(ENV.load(b, t.env, "frame"), I8P)
    return b.gep(frame, [b.add(ENV.load(b, t.env, "pkt_data"), start)])


def _span_error(t, b, start: ir.Value, length: ir.Value) -> ir.Value:
    """XdpBuffer.check_span: 0, -EFAULT (past bpf_xdp_pointer's limits) or -EINVAL (past the end)."""
    too_far = b.or_(b.icmp_unsigned(">", start, c64(SPAN_MAX)), b.icmp_unsigned(">", length, c64(SPAN_MAX)))
    past_end = b.icmp_unsigned(">", b.add(start, length), _packet_length(t, b))
    return b.select(too_far, c64(-errno.EFAULT), b.select(past_end, c64(-errno.EINVAL), c64(0)))


def _memmove(t, b, dst: ir.Value, src: ir.Value, length: ir.Value) -> None:
    memmove = t.module.declare_intrinsic("llvm.memmove", [I8P, I8P, I64])
    b.call(memmove, [dst, src, length, ir.Constant(I1, 0)])


def _branch(b: ir.IRBuilder, insn, name: str, cond: ir.Value, otherwise: ir.Block | None = None):
    """Split at `cond`: (block where it holds, block where it does not -- `otherwise` or a new
    one --, the block it came from)."""
    fn = b.function
    yes = fn.append_basic_block(f"pc{insn.pc}.{name}")
    no = otherwise if otherwise is not None else fn.append_basic_block(f"pc{insn.pc}.{name}.not")
    start = b.block
    b.cbranch(cond, yes, no)
    return yes, no, start


# -- kfuncs (runtime/kfuncs.py) ------------------------------------------------------------------


def from_xdp(t, b, insn, args) -> ir.Value:
    ctx, flags, ptr = args[0], args[1], args[2]
    fail = b.icmp_unsigned("!=", flags, c64(0))
    word = b.or_(_packet_length(t, b), c64(DYNPTR_XDP << DYNPTR_TYPE_SHIFT))
    _stored(t, b, insn, ptr, fail, ctx, word, c64(0))
    return b.select(fail, c64(-errno.EINVAL), c64(0))


def _slice(t, b, insn, args, writable: bool) -> ir.Value:
    """kfuncs.bpf_dynptr_slice (and _rdwr: a read-only dynptr gives NULL)."""
    d = Dynptr(t, b, insn, args[0])
    offset, buffer, size = _u32(b, args[1]), args[2], _u32(b, args[3])
    fn = b.function
    done = fn.append_basic_block(f"pc{insn.pc}.slice.done")
    incoming = []
    failed = b.or_(d.null, d.bad_span(b, offset, size))
    if writable:
        failed = b.or_(failed, d.rdonly)
    valid, _, start = _branch(b, insn, "slice.valid", b.not_(failed), done)
    incoming.append((c64(0), start))
    b.position_at_end(valid)
    xdp, other, start = _branch(b, insn, "slice.xdp", d.is_kind(b, DYNPTR_XDP))
    ob = ir.IRBuilder(other)
    incoming.append((d.at(ob, offset), other))
    ob.branch(done)
    b.position_at_end(xdp)
    at = b.add(d.offset, offset)
    in_packet, outside, start = _branch(b, insn, "slice.packet", b.icmp_unsigned("==", _span_error(t, b, at, size),
                                                                                   c64(0)))
    pb = ir.IRBuilder(in_packet)
    pointer = pb.add(ENV.load(pb, t.env, "pkt_base"), pb.add(ENV.load(pb, t.env, "pkt_data"), at))
    incoming.append((pointer, in_packet))
    pb.branch(done)
    # not in the packet as it is now: the buffer gets what the frame has of it (bpf_xdp_copy_buf)
    b.position_at_end(outside)
    copy, _, start = _branch(b, insn, "slice.copy", b.icmp_unsigned("!=", buffer, c64(0)), done)
    incoming.append((c64(0), start))
    b.position_at_end(copy)
    left = b.sub(_packet_length(t, b), at)
    available = b.select(b.icmp_signed("<", left, c64(0)), c64(0),
                         b.select(b.icmp_signed("<", left, size), left, size))
    host = t.memory.access(t, b, insn, buffer, available, write=True, helper=True)
    _memmove(t, b, host, _frame_at(t, b, at), available)
    incoming.append((buffer, b.block))
    b.branch(done)
    return join(b, done, incoming)


def slice_ro(t, b, insn, args) -> ir.Value:
    return _slice(t, b, insn, args, writable=False)


def slice_rdwr(t, b, insn, args) -> ir.Value:
    return _slice(t, b, insn, args, writable=True)


def adjust(t, b, insn, args) -> ir.Value:
    d = Dynptr(t, b, insn, args[0])
    start, end = _u32(b, args[1]), _u32(b, args[2])
    invalid = b.or_(d.null, b.icmp_unsigned(">", start, end))
    out_of_range = b.or_(b.icmp_unsigned(">", start, d.size), b.icmp_unsigned(">", end, d.size))
    error = b.select(invalid, c64(-errno.EINVAL), b.select(out_of_range, c64(-errno.ERANGE), c64(0)))
    done = b.function.append_basic_block(f"pc{insn.pc}.adjust.done")
    write, _, _ = _branch(b, insn, "adjust.write", b.icmp_unsigned("==", error, c64(0)), done)
    b.position_at_end(write)
    word = b.or_(b.sub(end, start), b.and_(d.word, c64(TYPE_BITS)))
    store_dynptr(t, b, insn, args[0], d.data, word, _u32(b, b.add(d.offset, start)))
    b.branch(done)
    b.position_at_end(done)
    return error


def size(t, b, insn, args) -> ir.Value:
    d = Dynptr(t, b, insn, args[0])
    return b.select(d.null, c64(-errno.EINVAL & M32), d.size)


def is_null(t, b, insn, args) -> ir.Value:
    return b.zext(Dynptr(t, b, insn, args[0]).null, I64)


def is_rdonly(t, b, insn, args) -> ir.Value:
    d = Dynptr(t, b, insn, args[0])
    return b.zext(b.and_(b.not_(d.null), d.rdonly), I64)


def clone(t, b, insn, args) -> ir.Value:
    d = Dynptr(t, b, insn, args[0])
    _stored(t, b, insn, args[1], d.null, d.data, b.and_(d.word, c64(DYNPTR_SIZE_MASK | TYPE_BITS)), d.offset)
    return b.select(d.null, c64(-errno.EINVAL), c64(0))


# runtime/kfuncs.py IMPLS name -> emitter
KFUNC_NATIVES = {
    "bpf_dynptr_from_xdp": from_xdp,
    "bpf_dynptr_slice": slice_ro,
    "bpf_dynptr_slice_rdwr": slice_rdwr,
    "bpf_dynptr_adjust": adjust,
    "bpf_dynptr_size": size,
    "bpf_dynptr_is_null": is_null,
    "bpf_dynptr_is_rdonly": is_rdonly,
    "bpf_dynptr_clone": clone,
}


# -- helpers (runtime/helpers.py) ---------------------------------------------------------------


def from_mem(t, b, insn, args) -> ir.Value:
    data, size, flags, ptr = args[0], _u32(b, args[1]), args[2], args[3]
    too_big = b.icmp_unsigned(">", size, c64(DYNPTR_MAX_SIZE))
    error = b.select(too_big, c64(-errno.E2BIG), b.select(b.icmp_unsigned("!=", flags, c64(0)), c64(-errno.EINVAL),
                                                          c64(0)))
    fail = b.icmp_unsigned("!=", error, c64(0))
    _stored(t, b, insn, ptr, fail, data, b.or_(size, c64(DYNPTR_LOCAL << DYNPTR_TYPE_SHIFT)), c64(0))
    return error


def _transfer(to_dynptr: bool):
    """bpf_dynptr_read (the dynptr's bytes into a buffer) and bpf_dynptr_write (a buffer into
    the dynptr's bytes): the argument checks, then an XDP dynptr's bytes are the frame's
    (_dynptr_xdp_copy: the packet span checked), another's are memory at data + offset."""

    def emit(t, b, insn, args) -> ir.Value:
        if to_dynptr:
            ptr, offset, buf, length, flags = args[0], _u32(b, args[1]), args[2], _u32(b, args[3]), args[4]
        else:
            buf, length, ptr, offset, flags = args[0], _u32(b, args[1]), args[2], _u32(b, args[3]), args[4]
        d = Dynptr(t, b, insn, ptr)
        has_flags = b.icmp_unsigned("!=", flags, c64(0))
        if to_dynptr:  # read-only refused before the span; flags after it
            refused = b.or_(d.null, d.rdonly)
            error = b.select(d.bad_span(b, offset, length), c64(-errno.E2BIG),
                             b.select(has_flags, c64(-errno.EINVAL), c64(0)))
        else:
            refused = b.or_(d.null, has_flags)
            error = b.select(d.bad_span(b, offset, length), c64(-errno.E2BIG), c64(0))
        error = b.select(refused, c64(-errno.EINVAL), error)
        fn = b.function
        done = fn.append_basic_block(f"pc{insn.pc}.dynptr_copy.done")
        go, _, start = _branch(b, insn, "dynptr_copy", b.icmp_unsigned("==", error, c64(0)), done)
        incoming = [(error, start)]
        b.position_at_end(go)
        xdp, other, _ = _branch(b, insn, "dynptr_copy.xdp", d.is_kind(b, DYNPTR_XDP))
        # memory: the source is read (checked) first, then the destination written
        ob = ir.IRBuilder(other)
        target = d.at(ob, offset)
        src, dst = (buf, target) if to_dynptr else (target, buf)
        source = t.memory.access(t, ob, insn, src, length, write=False, helper=True)
        dest = t.memory.access(t, ob, insn, dst, length, write=True, helper=True)
        _memmove(t, ob, dest, source, length)
        incoming.append((c64(0), ob.block))
        ob.branch(done)
        # the frame
        b.position_at_end(xdp)
        at = b.add(d.offset, offset)
        span = _span_error(t, b, at, length)
        copy, _, start = _branch(b, insn, "dynptr_copy.frame", b.icmp_unsigned("==", span, c64(0)), done)
        incoming.append((span, start))
        b.position_at_end(copy)
        host = t.memory.access(t, b, insn, buf, length, write=not to_dynptr, helper=True)
        frame = _frame_at(t, b, at)
        _memmove(t, b, frame if to_dynptr else host, host if to_dynptr else frame, length)
        incoming.append((c64(0), b.block))
        b.branch(done)
        return join(b, done, incoming)

    return emit


def data(t, b, insn, args) -> ir.Value:
    d = Dynptr(t, b, insn, args[0])
    offset, length = _u32(b, args[1]), _u32(b, args[2])
    memory_kind = b.or_(d.is_kind(b, DYNPTR_LOCAL), d.is_kind(b, DYNPTR_RINGBUF))
    refused = b.or_(b.or_(d.null, d.bad_span(b, offset, length)), b.or_(d.rdonly, b.not_(memory_kind)))
    return b.select(refused, c64(0), d.at(b, offset))


# platform helper name -> emitter
HELPER_NATIVES = {
    "dynptr_from_mem": from_mem,
    "dynptr_read": _transfer(to_dynptr=False),
    "dynptr_write": _transfer(to_dynptr=True),
    "dynptr_data": data,
}
