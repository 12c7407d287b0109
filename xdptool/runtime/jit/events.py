"""bpf_ringbuf_output and bpf_perf_event_output appended natively to the env's event log.

The runtime's helpers (runtime/helpers.py ringbuf_output, perf_event_output) append one
event per call to the run's `RunState.events`; native code appends the same event as a
record to a log of 64-bit words (`env.ev_log`): the packet index, the map's index, the perf
CPU slot (RINGBUF_CPU for a ring buffer), the payload's byte count, then the payload padded
to whole words.  The engine turns the records back into the events (packed.decode_events) after a run, or
when a batch's results are first asked for them (packed.EventRecords).  A log without room for a record asks the engine to grow it (GROW_EVENTS).

A ring buffer's room is counted per run, as helpers._ringbuf_room counts it: per map index
two words (`env.ev_maps`): the run number the count belongs to (`env.ev_run`) and the bytes.
Native events keep their order with the Python helpers' only when no Python helper of the
program runs program code (for_each_map_elem, user_ringbuf_drain, callx): such a program
keeps every event helper, ring buffer reservations (records.py) included, in Python
(`native_events`).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...elf.model import MapType
from ...platform.helpers import HELPER_ID
from ..helpers import (
    BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP, BPF_RINGBUF_HDR_SZ,
)
from .env import ENV
from .irtypes import I1, I64, I8P, I64P, c64, join
from .maps import MapHelpers, MapShape
from .packed import EV_MAP_WORDS, GROW_EVENTS, HEADER_WORDS, RINGBUF_CPU

if TYPE_CHECKING:
    from .translate import Translator

RINGBUF_OUTPUT, PERF_EVENT_OUTPUT = HELPER_ID["ringbuf_output"], HELPER_ID["perf_event_output"]
# Python helpers that append events or run program code: with any of them (or callx) in the
# program, the event helpers stay in Python too, so that events keep their order.
PYTHON_ORDERED = frozenset(HELPER_ID[name] for name in ("for_each_map_elem", "user_ringbuf_drain"))


def native_events(t: "Translator") -> bool:
    """Whether this module's event helpers may be native (see the module docstring)."""
    cached = t.__dict__
    if "_native_events" not in cached:
        cached["_native_events"] = not any(
            insn.is_call and (insn.uses_reg_src or (insn.is_helper_call and insn.imm in PYTHON_ORDERED))
            for unit in t.units for insn in unit.insns)
    return cached["_native_events"]


def _words(b: ir.IRBuilder, length: ir.Value) -> ir.Value:
    return b.lshr(b.add(length, c64(7)), c64(3))


def append_event(t: "Translator", b: ir.IRBuilder, insn, map_index: ir.Value, cpu: ir.Value,
                 parts: list[tuple[ir.Value, ir.Value]]) -> None:
    """One record: the header, then each (host pointer, length) part of the payload."""
    env = t.env
    total = c64(0)
    for _, length in parts:
        total = b.add(total, length)
    need = b.add(c64(HEADER_WORDS), _words(b, total))
    used = ENV.load(b, env, "ev_used")
    with b.if_then(b.icmp_unsigned(">", b.add(used, need), ENV.load(b, env, "ev_capacity")), likely=False):
        t.helpers.callback(t, b, insn, c64(GROW_EVENTS), [need, c64(0), c64(0), c64(0), c64(0)])
    log = b.inttoptr(ENV.load(b, env, "ev_log"), I64P)
    record = b.gep(log, [used])
    for n, value in enumerate((ENV.load(b, env, "ev_index"), map_index, cpu, total)):
        b.store(value, b.gep(record, [c64(n)]))
    last = b.gep(record, [b.add(c64(HEADER_WORDS - 1), _words(b, total))])
    b.store(c64(0), last)  # the padding of the last word
    payload = b.bitcast(b.gep(record, [c64(HEADER_WORDS)]), I8P)
    memcpy = t.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    at = c64(0)
    for pointer, length in parts:
        b.call(memcpy, [b.gep(payload, [at]), pointer, length, ir.Constant(I1, 0)])
        at = b.add(at, length)
    ENV.store(b, env, "ev_used", b.add(used, need))


def ring_room(t: "Translator", b: ir.IRBuilder, shape: MapShape, size: ir.Value):
    """helpers._ringbuf_room for a record of `size` bytes: (whether this run's records leave
    room for it, `take(builder)` which counts it)."""
    env = t.env
    state = b.inttoptr(ENV.load(b, env, "ev_maps"), I64P)
    stamp_ptr = b.gep(state, [c64(shape.index * EV_MAP_WORDS)])
    used_ptr = b.gep(state, [c64(shape.index * EV_MAP_WORDS + 1)])
    run = ENV.load(b, env, "ev_run")
    used = b.select(b.icmp_unsigned("==", b.load(stamp_ptr), run), b.load(used_ptr), c64(0))
    need = b.add(c64(BPF_RINGBUF_HDR_SZ), b.and_(b.add(size, c64(7)), c64(~7)))
    room = b.icmp_unsigned("<=", b.add(used, need), c64(shape.entries))

    def take(tb: ir.IRBuilder) -> None:
        tb.store(run, stamp_ptr)
        tb.store(tb.add(used, need), used_ptr)

    return room, take


def _ringbuf_output(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    """helpers.ringbuf_output: flags, then the payload read, then the run's room (-EAGAIN)."""
    if shape.type != MapType.RINGBUF or not native_events(t):
        return None
    fn = b.function
    done = fn.append_basic_block(f"pc{insn.pc}.ringbuf.done")
    go = fn.append_basic_block(f"pc{insn.pc}.ringbuf.flags_ok")
    size = args[2]
    incoming = [(c64(-errno.EINVAL), b.block)]
    bad_flags = b.icmp_unsigned("!=", b.and_(args[3], c64(~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))), c64(0))
    b.cbranch(bad_flags, done, go)
    b.position_at_end(go)
    payload = t.memory.access(t, b, insn, args[1], size, write=False, helper=True)
    room, take_room = ring_room(t, b, shape, size)
    write = fn.append_basic_block(f"pc{insn.pc}.ringbuf.write")
    incoming.append((c64(-errno.EAGAIN), b.block))
    b.cbranch(room, write, done)
    b.position_at_end(write)
    take_room(b)
    append_event(t, b, insn, c64(shape.index), c64(RINGBUF_CPU), [(payload, size)])
    incoming.append((c64(0), b.block))
    b.branch(done)
    return join(b, done, incoming)


def _perf_event_output(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    """helpers.perf_event_output: flags, the context bytes asked for, the CPU slot, then the
    payload read and the record (the payload, then the packet's first ctx_len bytes)."""
    if shape.type != MapType.PERF_EVENT_ARRAY or not native_events(t):
        return None
    env = t.env
    fn = b.function
    flags, data, size = args[2], args[3], args[4]
    ctx_len = b.lshr(b.and_(flags, c64(BPF_F_CTXLEN_MASK)), c64(32))
    index = b.and_(flags, c64(BPF_F_INDEX_MASK))
    index = b.select(b.icmp_unsigned("==", index, c64(BPF_F_CURRENT_CPU)), ENV.load(b, env, "cpu"), index)
    pkt_data = ENV.load(b, env, "pkt_data")
    length = b.sub(ENV.load(b, env, "pkt_end"), pkt_data)
    bad_flags = b.icmp_unsigned("!=", b.and_(flags, c64(~(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK))), c64(0))
    error = b.select(bad_flags, c64(-errno.EINVAL),
                     b.select(b.icmp_unsigned(">", ctx_len, length), c64(-errno.EFAULT),
                              b.select(b.icmp_unsigned(">=", index, c64(shape.entries)), c64(-errno.E2BIG),
                                       c64(0))))
    done = fn.append_basic_block(f"pc{insn.pc}.perf.done")
    write = fn.append_basic_block(f"pc{insn.pc}.perf.write")
    incoming = [(error, b.block)]
    b.cbranch(b.icmp_unsigned("==", error, c64(0)), write, done)
    b.position_at_end(write)
    payload = t.memory.access(t, b, insn, data, size, write=False, helper=True)
    frame = b.gep(b.inttoptr(ENV.load(b, env, "frame"), I8P), [pkt_data])
    append_event(t, b, insn, c64(shape.index), index, [(payload, size), (frame, ctx_len)])
    incoming.append((c64(0), b.block))
    b.branch(done)
    return join(b, done, incoming)


def event_emitters(maps: MapHelpers) -> dict:
    def ringbuf_output(t, b, insn, args):
        if not native_events(t):
            return None
        return maps.dispatch(t, b, insn, RINGBUF_OUTPUT, args, _ringbuf_output)

    def perf_event_output(t, b, insn, args):
        if not native_events(t):
            return None
        return maps.dispatch(t, b, insn, PERF_EVENT_OUTPUT, args, _perf_event_output, reg=2)

    return {RINGBUF_OUTPUT: ringbuf_output, PERF_EVENT_OUTPUT: perf_event_output}
