"""Ring buffer records as native code: bpf_ringbuf_reserve/_submit/_discard and their dynptr
forms (runtime/helpers.py), for programs whose event helpers are native (events.py
`native_events`).

A record is a region of the interpreter's address space whose id is the lowest free of the
RECORD_SLOTS ids the shadow keeps for them (VmEngine.record), so native code makes the same
pointers: it takes the slot (`env.rec_bits`), zeroed bytes from a per-run arena, the region
table entry, and notes the slot's host address, size and ring (`env.rec_meta`) so that the
engine can adopt the record into the shadow whenever Python looks (JitEngine._records_to_python).
Submit appends the record's bytes to the event log (events.append_event) and, like discard,
frees the slot and empties its table entry; a pointer that is no live record goes to the Python
helper, which faults in the interpreter's words.  Every run starts with no record held
(`reset_records`: the slots left from the last run emptied).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...elf.model import MapType
from ...platform.helpers import HELPER_ID
from ..helpers import DYNPTR_MAX_SIZE, DYNPTR_RINGBUF, DYNPTR_TYPE_SHIFT, RECORD_SLOTS
from ..memory import ORIGIN, REGION_SHIFT
from .dynptr import Dynptr, store_dynptr
from .env import ENV, R_HI, R_HOST, R_LO, R_WRITABLE, REGION_WORDS
from .events import append_event, native_events, ring_room
from .irtypes import I1, I8, I64, I8P, I64P, M64, c64, join
from .maps import MapHelpers, MapShape
from .packed import GROW_ARENA, RECORD_META_WORDS, RINGBUF_CPU
from .regions import EMPTY_WINDOW

if TYPE_CHECKING:
    from .translate import Translator

RESERVE, SUBMIT, DISCARD = HELPER_ID["ringbuf_reserve"], HELPER_ID["ringbuf_submit"], HELPER_ID["ringbuf_discard"]
RESERVE_DYNPTR, SUBMIT_DYNPTR, DISCARD_DYNPTR = (HELPER_ID[f"ringbuf_{verb}_dynptr"]
                                                 for verb in ("reserve", "submit", "discard"))
ALL_SLOTS = (1 << RECORD_SLOTS) - 1


def _table_entry(b: ir.IRBuilder, env, rid: ir.Value, host: ir.Value, lo: int, hi: ir.Value, writable: int) -> None:
    table = b.inttoptr(ENV.load(b, env, "regions"), I64P)
    base = b.mul(rid, c64(REGION_WORDS))
    for word, value in ((R_HOST, host), (R_LO, c64(lo)), (R_HI, hi), (R_WRITABLE, c64(writable))):
        b.store(value, b.gep(table, [b.add(base, c64(word))]))


def _meta(b: ir.IRBuilder, env, slot: ir.Value, word: int) -> ir.Value:
    meta = b.inttoptr(ENV.load(b, env, "rec_meta"), I64P)
    return b.gep(meta, [b.add(b.mul(slot, c64(RECORD_META_WORDS)), c64(word))])


def reset_records(module: ir.Module) -> ir.Function:
    """void xdp_reset_records(env*): the slots the last run left held are emptied, the arena
    reused (defined once per module)."""
    fn = module.globals.get("xdp_reset_records")
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I8P]), name="xdp_reset_records")
    fn.linkage = "internal"
    env = fn.args[0]
    entry, loop, body, done = (fn.append_basic_block(n) for n in ("entry", "loop", "body", "done"))
    b = ir.IRBuilder(entry)
    held = ENV.load(b, env, "rec_bits")
    b.branch(loop)
    b.position_at_end(loop)
    bits = b.phi(I64)
    bits.add_incoming(held, entry)
    b.cbranch(b.icmp_unsigned("!=", bits, c64(0)), body, done)
    b.position_at_end(body)
    slot = b.cttz(bits, ir.Constant(I1, 0))
    _table_entry(b, env, b.add(ENV.load(b, env, "rec_base"), slot), c64(0), EMPTY_WINDOW[0], c64(EMPTY_WINDOW[1]), 0)
    bits.add_incoming(b.and_(bits, b.sub(bits, c64(1))), body)
    b.branch(loop)
    b.position_at_end(done)
    ENV.store(b, env, "rec_bits", c64(0))
    ENV.store(b, env, "rec_arena_used", c64(0))
    b.ret_void()
    return fn


def _allocate(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, size: ir.Value) -> ir.Value:
    """VmEngine.record: the record's address, or 0 when every slot is held."""
    env = t.env
    fn = b.function
    bits = ENV.load(b, env, "rec_bits")
    take = fn.append_basic_block(f"pc{insn.pc}.record.take")
    done = fn.append_basic_block(f"pc{insn.pc}.record.done")
    start = b.block
    b.cbranch(b.icmp_unsigned("==", bits, c64(ALL_SLOTS)), done, take)
    b.position_at_end(take)
    slot = b.cttz(b.xor(bits, c64(M64)), ir.Constant(I1, 0))
    rounded = b.and_(b.add(size, c64(7)), c64(~7))
    with b.if_then(b.icmp_unsigned(">", b.add(ENV.load(b, env, "rec_arena_used"), rounded),
                                   ENV.load(b, env, "rec_arena_cap")), likely=False):
        t.helpers.callback(t, b, insn, c64(GROW_ARENA), [rounded, c64(0), c64(0), c64(0), c64(0)])
    used = ENV.load(b, env, "rec_arena_used")
    host = b.add(ENV.load(b, env, "rec_arena"), used)
    ENV.store(b, env, "rec_arena_used", b.add(used, rounded))
    memset = t.module.declare_intrinsic("llvm.memset", [I8P, I64])
    b.call(memset, [b.inttoptr(host, I8P), ir.Constant(I8, 0), size, ir.Constant(I1, 0)])
    rid = b.add(ENV.load(b, env, "rec_base"), slot)
    _table_entry(b, env, rid, host, 0, size, 1)
    for word, value in enumerate((host, size, c64(shape.index))):
        b.store(value, _meta(b, env, slot, word))
    ENV.store(b, env, "rec_bits", b.or_(bits, b.shl(c64(1), slot)))
    ENV.store(b, env, "rec_native", c64(1))
    address = b.or_(b.shl(rid, c64(REGION_SHIFT)), c64(ORIGIN))
    taken = b.block
    b.branch(done)
    return join(b, done, [(c64(0), start), (address, taken)])


def _ringbuf_native(t: "Translator", shape: MapShape) -> bool:
    return shape.type == MapType.RINGBUF and native_events(t)


def _reserve(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    """helpers.ringbuf_reserve: flags, the room (taken), a record."""
    if not _ringbuf_native(t, shape):
        return None
    size, flags = args[1], args[2]
    fn = b.function
    done = fn.append_basic_block(f"pc{insn.pc}.reserve.done")
    checked = fn.append_basic_block(f"pc{insn.pc}.reserve.checked")
    incoming = [(c64(0), b.block)]
    b.cbranch(b.icmp_unsigned("!=", flags, c64(0)), done, checked)
    b.position_at_end(checked)
    room, take_room = ring_room(t, b, shape, size)
    roomy = fn.append_basic_block(f"pc{insn.pc}.reserve.room")
    incoming.append((c64(0), b.block))
    b.cbranch(room, roomy, done)
    b.position_at_end(roomy)
    take_room(b)
    incoming.append((_allocate(t, b, insn, shape, size), b.block))
    b.branch(done)
    return join(b, done, incoming)


def _reserve_dynptr(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    """helpers.ringbuf_reserve_dynptr: -EINVAL (flags), -E2BIG, -ENOMEM (no room, or no slot);
    the dynptr made, or the null one."""
    if not _ringbuf_native(t, shape):
        return None
    size, flags, ptr = b.and_(args[1], c64(0xFFFFFFFF)), args[2], args[3]
    error = b.select(b.icmp_unsigned("!=", flags, c64(0)), c64(-errno.EINVAL),
                     b.select(b.icmp_unsigned(">", size, c64(DYNPTR_MAX_SIZE)), c64(-errno.E2BIG), c64(0)))
    fn = b.function
    done = fn.append_basic_block(f"pc{insn.pc}.reserve_dynptr.done")
    checked = fn.append_basic_block(f"pc{insn.pc}.reserve_dynptr.checked")
    roomy = fn.append_basic_block(f"pc{insn.pc}.reserve_dynptr.room")
    incoming = [(error, c64(0), b.block)]
    b.cbranch(b.icmp_unsigned("==", error, c64(0)), checked, done)
    b.position_at_end(checked)
    room, take_room = ring_room(t, b, shape, size)
    incoming.append((c64(-errno.ENOMEM), c64(0), b.block))
    b.cbranch(room, roomy, done)
    b.position_at_end(roomy)
    take_room(b)
    record = _allocate(t, b, insn, shape, size)
    incoming.append((b.select(b.icmp_unsigned("==", record, c64(0)), c64(-errno.ENOMEM), c64(0)), record, b.block))
    b.branch(done)
    b.position_at_end(done)
    err, data = b.phi(I64), b.phi(I64)
    for e, d, block in incoming:
        err.add_incoming(e, block)
        data.add_incoming(d, block)
    fail = b.icmp_unsigned("!=", err, c64(0))
    word = b.or_(size, c64(DYNPTR_RINGBUF << DYNPTR_TYPE_SHIFT))
    store_dynptr(t, b, insn, ptr, b.select(fail, c64(0), data), b.select(fail, c64(0), word), c64(0))
    return err


def _finish(t: "Translator", b: ir.IRBuilder, insn, record: ir.Value, keep: bool, helper_id: int,
            args: list, live_result: ir.Value) -> ir.Value:
    """_ringbuf_finish on `record`: a live record is submitted (keep) or discarded and its slot
    freed, the answer `live_result`; anything else goes to the Python helper `helper_id`, which
    faults in the interpreter's words."""
    env = t.env
    fn = b.function
    rid = b.lshr(record, c64(REGION_SHIFT))
    slot = b.sub(rid, ENV.load(b, env, "rec_base"))
    in_pool = b.icmp_unsigned("<", slot, c64(RECORD_SLOTS))
    bit = b.shl(c64(1), b.select(in_pool, slot, c64(0)))
    held = b.icmp_unsigned("!=", b.and_(ENV.load(b, env, "rec_bits"), bit), c64(0))
    at_start = b.icmp_unsigned("==", b.and_(record, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
    live = fn.append_basic_block(f"pc{insn.pc}.finish.live")
    other = fn.append_basic_block(f"pc{insn.pc}.finish.python")
    done = fn.append_basic_block(f"pc{insn.pc}.finish.done")
    b.cbranch(b.and_(in_pool, b.and_(held, at_start)), live, other)
    pb = ir.IRBuilder(other)
    python = t.helpers.callback(t, pb, insn, c64(helper_id), args)
    python_end = pb.block
    pb.branch(done)
    b.position_at_end(live)
    if keep:
        host = b.inttoptr(b.load(_meta(b, env, slot, 0)), I8P)
        append_event(t, b, insn, b.load(_meta(b, env, slot, 2)), c64(RINGBUF_CPU),
                     [(host, b.load(_meta(b, env, slot, 1)))])
    _table_entry(b, env, rid, c64(0), EMPTY_WINDOW[0], c64(EMPTY_WINDOW[1]), 0)
    ENV.store(b, env, "rec_bits", b.and_(ENV.load(b, env, "rec_bits"), b.xor(bit, c64(M64))))
    live_end = b.block
    b.branch(done)
    return join(b, done, [(live_result, live_end), (python, python_end)])


def _finisher(helper_id: int, keep: bool):
    """bpf_ringbuf_submit / bpf_ringbuf_discard (r0 0)."""
    def emit(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value | None:
        if not native_events(t):
            return None
        return _finish(t, b, insn, args[0], keep, helper_id, args, c64(0))
    return emit


def _dynptr_finisher(helper_id: int, keep: bool):
    """bpf_ringbuf_submit_dynptr / _discard_dynptr: the dynptr's record finished when it has
    one, the dynptr made null; r0 is left as it was (the helpers return nothing)."""
    def emit(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value | None:
        if not native_events(t):
            return None
        r0 = t.reg(b, 0)
        d = Dynptr(t, b, insn, args[0])
        fn = b.function
        has = fn.append_basic_block(f"pc{insn.pc}.finish_dynptr.record")
        after = fn.append_basic_block(f"pc{insn.pc}.finish_dynptr.after")
        start = b.block
        b.cbranch(d.null, after, has)
        b.position_at_end(has)
        result = _finish(t, b, insn, d.data, keep, helper_id, args, r0)
        finished = b.block
        b.branch(after)
        value = join(b, after, [(r0, start), (result, finished)])
        store_dynptr(t, b, insn, args[0], c64(0), c64(0), c64(0))
        return value
    return emit


def record_emitters(maps: MapHelpers) -> dict:
    def reserve(t, b, insn, args):
        return maps.dispatch(t, b, insn, RESERVE, args, _reserve) if native_events(t) else None

    def reserve_dynptr(t, b, insn, args):
        return maps.dispatch(t, b, insn, RESERVE_DYNPTR, args, _reserve_dynptr) if native_events(t) else None

    return {RESERVE: reserve, RESERVE_DYNPTR: reserve_dynptr,
            SUBMIT: _finisher(SUBMIT, True), DISCARD: _finisher(DISCARD, False),
            SUBMIT_DYNPTR: _dynptr_finisher(SUBMIT_DYNPTR, True), DISCARD_DYNPTR: _dynptr_finisher(DISCARD_DYNPTR, False)}
