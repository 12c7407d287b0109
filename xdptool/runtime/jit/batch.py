"""The packet loop, in IR: `uint64 xdp_batch(env*, start, end)`.

For each packet it does what `XdpBuffer.reset` and `VmEngine.run` do — a zeroed
frame with the packet at `headroom`, a zeroed stack, r1 = the context — runs
the program, and appends the result to flat arrays: retval (u32), fault kind
(u8), instructions executed (u64), and the output packet (offset u64, length
u32) — copied into one output buffer if the program changed it, else recorded
as UNCHANGED (it is the input packet: most packets are passed or dropped as
they came, and copying them would cost more than running the program).  Only the bytes the previous packet could have
dirtied are re-zeroed (`env.dirty_lo/hi`, widened by every packet-pointer move),
so a 64-byte packet does not pay for clearing a 4 KiB frame.

A program that cannot change the packet (proofs.py: `PacketProof.read_only`) is run
*in place*: the packet region's host address is pointed at the packet where the input
buffer holds it (for a replay, the capture file's mapping), marked not writable, and
nothing is copied in, cleared or compared; every output is UNCHANGED.  A Python helper
that needs the packet copies it into the frame first (engine._packet_into_frame).  The
region's host, writability and `env.frame` are put back before the loop returns.

A redirected packet's target (env.redir_*, set by the native redirect helpers)
is appended to the redirect log: its index, then the REDIRECT_FIELDS.

It returns early — the index of the first packet not run — when Python must
look: after a packet that faulted or called a Python helper (its fault wording,
trace output and scratch regions live on the Python side), or before a packet
that may not fit the frame, the output buffer or the redirect log.
"""

from __future__ import annotations

import llvmlite.ir as ir

from ..config import SKB_SHARED_INFO_TAILROOM
from ..helpers import XDP_REDIRECT
from .env import ENV, R_HI, R_HOST, R_LO, R_WRITABLE, REDIRECT_FIELDS, REDIRECT_WORDS, REGION_WORDS, RedirectKind
from .irtypes import I1, I8, I32, I64, I8P, c64
from .layout import UNCHANGED
from .memory import MemoryModel




def _declare_memcmp(module: ir.Module) -> ir.Function:
    fn = module.globals.get("memcmp")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(I32, [I8P, I8P, I64]), name="memcmp")
    return fn


def _array_ptr(b: ir.IRBuilder, env: ir.Value, name: str, ty: ir.IntType, index: ir.Value) -> ir.Value:
    base = b.inttoptr(ENV.load(b, env, name), ty.as_pointer())
    return b.gep(base, [index])


def _host(b: ir.IRBuilder, env: ir.Value, name: str, offset: ir.Value) -> ir.Value:
    return b.gep(b.inttoptr(ENV.load(b, env, name), I8P), [offset])


BLOCK = 16  # bytes per step of the packet loop's inline copy and clear (one SSE register)
INLINE_MOVE = 512  # longer (and shorter than BLOCK) copies and clears call memcpy/memset
_VECTOR = ir.VectorType(I8, BLOCK)


def _in_blocks(b: ir.IRBuilder, length: ir.Value, step, call) -> None:
    """`step(k)` moves bytes k..k+BLOCK for k = 0, BLOCK, ... and last length-BLOCK (overlapping
    the one before: every byte is moved, none outside 0..length); `call()` instead when length
    is below BLOCK or above INLINE_MOVE.  A packet's copy-in and its frame's clear are a few
    blocks: inline they take ~1 ns, a libc call (PLT, dispatch) ~4 ns per packet."""
    fn = b.function
    start, loop, tail, slow, done = (fn.append_basic_block(name) for name in
                                     ("blocks", "block", "last_block", "libc_call", "moved"))
    inline = b.and_(b.icmp_unsigned(">=", length, c64(BLOCK)), b.icmp_unsigned("<=", length, c64(INLINE_MOVE)))
    b.cbranch(inline, start, slow)
    b.position_at_end(start)
    b.branch(loop)
    b.position_at_end(loop)
    k = b.phi(I64)
    k.add_incoming(c64(0), start)
    step(k)
    following = b.add(k, c64(BLOCK))
    k.add_incoming(following, loop)
    b.cbranch(b.icmp_unsigned("<", b.add(following, c64(BLOCK)), length), loop, tail)
    b.position_at_end(tail)
    step(b.sub(length, c64(BLOCK)))
    b.branch(done)
    b.position_at_end(slow)
    call()
    b.branch(done)
    b.position_at_end(done)


def _block_at(b: ir.IRBuilder, base: ir.Value, k: ir.Value):
    return b.bitcast(b.gep(base, [k]), _VECTOR.as_pointer())


def copy_bytes(b: ir.IRBuilder, memcpy: ir.Function, dest: ir.Value, source: ir.Value, length) -> None:
    """memcpy(dest, source, length) of buffers that do not overlap, inline when short."""
    _in_blocks(b, length,
               lambda k: b.store(b.load(_block_at(b, source, k), align=1), _block_at(b, dest, k), align=1),
               lambda: b.call(memcpy, [dest, source, length, ir.Constant(I1, 0)]))


def clear_bytes(b: ir.IRBuilder, memset: ir.Function, dest: ir.Value, length) -> None:
    """memset(dest, 0, length), inline when short."""
    _in_blocks(b, length,
               lambda k: b.store(ir.Constant(_VECTOR, None), _block_at(b, dest, k), align=1),
               lambda: b.call(memset, [dest, ir.Constant(I8, 0), length, ir.Constant(I1, 0)]))


def _umin(b, x, y):
    return b.select(b.icmp_unsigned("<", x, y), x, y)


def _umax(b, x, y):
    return b.select(b.icmp_unsigned(">", x, y), x, y)


def set_packet_window(b: ir.IRBuilder, env: ir.Value, meta: ir.Value, data: ir.Value, end: ir.Value,
                      row: ir.Value | None = None, widen_dirty: bool = True) -> None:
    """Move data_meta/data/data_end: env state, the packet region's window (`row`: its row of
    the region table, when the caller has it), and widen the frame's dirty range over it (not
    `widen_dirty`: the packet loop, which sets the range itself, or in place has the packet
    outside the frame)."""
    ENV.store(b, env, "pkt_meta", meta)
    ENV.store(b, env, "pkt_data", data)
    ENV.store(b, env, "pkt_end", end)
    row = packet_row(b, env) if row is None else row
    b.store(meta, b.gep(row, [c64(R_LO)]))
    b.store(end, b.gep(row, [c64(R_HI)]))
    if widen_dirty:
        ENV.store(b, env, "dirty_lo", _umin(b, ENV.load(b, env, "dirty_lo"), meta))
        ENV.store(b, env, "dirty_hi", _umax(b, ENV.load(b, env, "dirty_hi"), end))


def clear_dirty(b: ir.IRBuilder, memset: ir.Function, env: ir.Value, start: ir.Value, end: ir.Value) -> None:
    """Zero what the packets before dirtied (env.dirty_lo/hi) except what the next packet's
    copy to [start, end) overwrites anyway: the bytes below `start` (a program moved data
    below the headroom) and those above `end` (the packet before was longer), the latter
    widened down to at least one BLOCK, so a few bytes are cleared inline, not by a libc
    call (the widened part is the packet's, copied after the clear).  Packets of one
    length clear nothing."""
    lo, hi = ENV.load(b, env, "dirty_lo"), ENV.load(b, env, "dirty_hi")
    below_end = _umin(b, hi, start)
    with b.if_then(b.icmp_unsigned("<", lo, below_end), likely=False):
        clear_bytes(b, memset, _host(b, env, "frame", lo), b.sub(below_end, lo))
    above = _umax(b, lo, end)
    with b.if_then(b.icmp_unsigned("<", above, hi)):
        widened = _umax(b, lo, _umin(b, above, b.sub(hi, c64(BLOCK))))
        clear_bytes(b, memset, _host(b, env, "frame", widened), b.sub(hi, widened))


def packet_row(b: ir.IRBuilder, env: ir.Value, pkt_id: ir.Value | None = None) -> ir.Value:
    """The packet region's row of the region table (i64*: R_HOST, R_LO, ... words); the table
    itself may move when a helper grows it, so the row is good until the next call."""
    table = b.inttoptr(ENV.load(b, env, "regions"), I64.as_pointer())
    return b.gep(table, [b.mul(ENV.load(b, env, "pkt_id") if pkt_id is None else pkt_id, c64(REGION_WORDS))])


def _place_packet(b: ir.IRBuilder, env: ir.Value, row: ir.Value, host: ir.Value, writable: ir.Value) -> None:
    """The packet region's bytes are at `host` (its offset 0; env.frame too, for the native
    helpers that read the packet through it)."""
    b.store(host, b.gep(row, [c64(R_HOST)]))
    b.store(writable, b.gep(row, [c64(R_WRITABLE)]))
    ENV.store(b, env, "frame", host)


# env fields a batch call reads but nothing changes while it runs (run_packed and the engine's
# setup write them between calls; neither the program nor a helper callback does): loaded once
FIXED_DURING_BATCH = ("in_buf", "in_offsets", "in_lengths", "in_size", "headroom", "frame_capacity", "min_frame_size",
                      "ctx_base", "pkt_id", "retvals", "fault_kinds", "insn_counts", "out_lengths", "out_offsets")


def build_batch(module: ir.Module, prog: ir.Function, memory: MemoryModel, in_place: bool = False) -> ir.Function:
    """The packet loop; `in_place`: the program reads the packet only (module docstring)."""
    from .records import reset_records  # an emitter: imported to build only (packed.py imports this module)

    fn = ir.Function(module, ir.FunctionType(I64, [I8P, I64, I64]), name="xdp_batch")
    env, start, end = fn.args
    entry = fn.append_basic_block("entry")
    head = fn.append_basic_block("head")
    body = fn.append_basic_block("body")
    finish = fn.append_basic_block("finish")
    stop_before = fn.append_basic_block("stop_before")
    b = ir.IRBuilder(entry)
    memset = module.declare_intrinsic("llvm.memset", [I8P, I64])
    memcpy = module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    frame = ENV.load(b, env, "frame")
    fixed = {name: ENV.load(b, env, name) for name in FIXED_DURING_BATCH}
    arrays = {name: b.inttoptr(fixed[name], ty.as_pointer()) for name, ty in (
        ("in_offsets", I64), ("in_lengths", I32), ("retvals", I32), ("fault_kinds", I8), ("insn_counts", I64),
        ("out_lengths", I32), ("out_offsets", I64))}
    pkt_id = fixed["pkt_id"]
    writable = b.load(b.gep(packet_row(b, env, pkt_id), [c64(R_WRITABLE)]))  # (dropped by LLVM unless in place)
    # every run's registers: r1 the context, the others 0 (r10: each packet's, with its stack);
    # the program reads them on entry and never writes them, and nothing else does during a call
    for n in range(10):
        ENV.store(b, env, "init_regs", fixed["ctx_base"] if n == 1 else c64(0), index=n)
    stack = ENV.load(b, env, "stack_ids", c64(0))  # frame 0's stack region: its top is cleared each packet
    ENV.store(b, env, "init_regs", memory.stack_pointer(b, stack), index=10)
    stack_top = memory.reachable_top(b, env, stack)
    b.branch(head)

    b.position_at_end(head)
    i = b.phi(I64, name="i")
    i.add_incoming(start, entry)
    b.cbranch(b.icmp_unsigned("<", i, end), body, finish)

    b.position_at_end(body)
    length = b.zext(b.load(b.gep(arrays["in_lengths"], [i])), I64)
    headroom = fixed["headroom"]
    need = b.add(b.add(headroom, length), c64(SKB_SHARED_INFO_TAILROOM))
    capacity = fixed["frame_capacity"]
    offset = b.load(b.gep(arrays["in_offsets"], [i]))
    inside = b.icmp_unsigned("<=", b.add(offset, length), fixed["in_size"])
    fits = b.and_(b.icmp_unsigned("<=", need, capacity), inside)
    if not in_place:  # room in the output area for a changed packet
        room = b.sub(ENV.load(b, env, "out_capacity"), ENV.load(b, env, "out_used"))
        fits = b.and_(fits, b.icmp_unsigned(">=", room, capacity))
    log_room = b.icmp_unsigned("<", ENV.load(b, env, "redir_used"), ENV.load(b, env, "redir_capacity"))
    fits = b.and_(fits, log_room)
    # the event log half full: Python reads it before more packets run (it grows only for one packet's)
    events_room = b.icmp_unsigned("<=", b.shl(ENV.load(b, env, "ev_used"), c64(1)), ENV.load(b, env, "ev_capacity"))
    fits = b.and_(fits, events_room)
    ready = fn.append_basic_block("ready")
    b.cbranch(fits, ready, stop_before)

    b.position_at_end(ready)
    # a fresh zeroed frame with the packet at `headroom` (XdpBuffer.reset)
    pkt_end = b.add(headroom, length)
    source = b.gep(b.inttoptr(fixed["in_buf"], I8P), [offset])
    row = packet_row(b, env, pkt_id)
    if in_place:  # region offset `headroom` is the packet's first byte in the input
        _place_packet(b, env, row, b.sub(b.ptrtoint(source, I64), headroom), c64(0))
    else:
        clear_dirty(b, memset, env, headroom, pkt_end)
        copy_bytes(b, memcpy, _host(b, env, "frame", headroom), source, length)
        ENV.store(b, env, "dirty_lo", headroom)
        ENV.store(b, env, "dirty_hi", pkt_end)
    frame_size = _umax(b, need, fixed["min_frame_size"])
    ENV.store(b, env, "pkt_hard_end", b.sub(frame_size, c64(SKB_SHARED_INFO_TAILROOM)))
    set_packet_window(b, env, headroom, headroom, pkt_end, row, widen_dirty=False)
    # the stack, run state (VmEngine._call_entry / _begin_run; the registers are set before the loop)
    memory.clear_top(module, b, stack_top)
    for name in ("fault_kind", "cb_used", "insns", "redir_kind", "pkt_written"):
        ENV.store(b, env, name, c64(0))
    b.call(reset_records(module), [env])  # no ring buffer record held (records.py)
    ENV.store(b, env, "ev_index", i)
    ENV.store(b, env, "ev_run", b.add(ENV.load(b, env, "ev_run"), c64(1)))
    r0 = b.call(prog, [env])

    kind = ENV.load(b, env, "fault_kind")
    faulted = b.icmp_unsigned("!=", kind, c64(0))
    retval = b.select(faulted, ir.Constant(I32, 0), b.trunc(r0, I32))
    b.store(retval, b.gep(arrays["retvals"], [i]))
    b.store(b.trunc(kind, I8), b.gep(arrays["fault_kinds"], [i]))
    b.store(ENV.load(b, env, "insns"), b.gep(arrays["insn_counts"], [i]))
    data, data_end = ENV.load(b, env, "pkt_data"), ENV.load(b, env, "pkt_end")
    out_len = b.sub(data_end, data)
    b.store(b.trunc(out_len, I32), b.gep(arrays["out_lengths"], [i]))
    if in_place:  # nothing can have moved or written it
        b.store(c64(UNCHANGED), b.gep(arrays["out_offsets"], [i]))
    else:
        _record_output(b, env, i, data, out_len, kind, source, length, headroom, arrays, memcpy)
    redir_kind = ENV.load(b, env, "redir_kind")
    logged = b.and_(b.icmp_unsigned("==", retval, ir.Constant(I32, XDP_REDIRECT)),
                    b.and_(b.icmp_unsigned("!=", redir_kind, c64(RedirectKind.NONE)),
                           b.icmp_unsigned("!=", redir_kind, c64(RedirectKind.PYTHON))))
    with b.if_then(logged):
        used = ENV.load(b, env, "redir_used")
        base = b.mul(used, c64(REDIRECT_WORDS))
        b.store(i, _array_ptr(b, env, "redir_log", I64, base))
        for n, name in enumerate(REDIRECT_FIELDS):
            b.store(ENV.load(b, env, name), _array_ptr(b, env, "redir_log", I64, b.add(base, c64(1 + n))))
        ENV.store(b, env, "redir_used", b.add(used, c64(1)))
    after = b.add(i, c64(1))
    attention = b.or_(faulted, b.icmp_unsigned("!=", ENV.load(b, env, "cb_used"), c64(0)))
    back = b.block
    stop_after = fn.append_basic_block("stop_after")
    b.cbranch(attention, stop_after, head)
    i.add_incoming(after, back)

    for block, value in ((stop_after, after), (stop_before, i), (finish, end)):
        exit_builder = ir.IRBuilder(block)
        if in_place:  # the frame back, for Python and the next call
            _place_packet(exit_builder, env, packet_row(exit_builder, env, pkt_id), frame, writable)
        exit_builder.ret(value)
    return fn


def _record_output(b: ir.IRBuilder, env: ir.Value, i: ir.Value, data: ir.Value, out_len: ir.Value,
                   kind: ir.Value, source: ir.Value, length: ir.Value, headroom: ir.Value, arrays: dict,
                   memcpy: ir.Function) -> None:
    """Packet i's output: UNCHANGED, or a copy of the frame's packet appended to the output
    buffer.  An unchanged packet is not copied: its output is its input.  Its bytes are
    compared with the input only when something may have written them (env.pkt_written, a
    Python helper, a fault).  `arrays`: the loop's result arrays (out_offsets here)."""
    fn = b.function
    same_place = b.and_(b.icmp_unsigned("==", data, headroom), b.icmp_unsigned("==", out_len, length))
    compare = fn.append_basic_block("compare")
    copy = fn.append_basic_block("copy")
    recorded = fn.append_basic_block("recorded")
    unchanged_block = fn.append_basic_block("unchanged")
    placed = fn.append_basic_block("placed")
    b.cbranch(same_place, placed, copy)
    b.position_at_end(placed)
    touched = b.or_(b.or_(ENV.load(b, env, "pkt_written"), ENV.load(b, env, "cb_used")), kind)
    b.cbranch(b.icmp_unsigned("!=", touched, c64(0)), compare, unchanged_block)
    b.position_at_end(compare)
    memcmp = _declare_memcmp(b.module)
    differs = b.call(memcmp, [_host(b, env, "frame", data), source, out_len])
    b.cbranch(b.icmp_signed("!=", differs, ir.Constant(I32, 0)), copy, unchanged_block)
    b.position_at_end(unchanged_block)
    b.store(c64(UNCHANGED), b.gep(arrays["out_offsets"], [i]))
    b.branch(recorded)
    b.position_at_end(copy)
    used = ENV.load(b, env, "out_used")
    b.call(memcpy, [_host(b, env, "out_buf", used), _host(b, env, "frame", data), out_len, ir.Constant(I1, 0)])
    b.store(used, b.gep(arrays["out_offsets"], [i]))
    ENV.store(b, env, "out_used", b.add(used, out_len))
    b.branch(recorded)
    b.position_at_end(recorded)
