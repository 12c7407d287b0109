"""Which helpers run as native code, and the small ones written here.

Native: map_lookup_elem (1), map_update_elem (2), map_delete_elem (3) for the
map kinds maps.py handles; ktime_get_ns (5) and ktime_get_boot_ns (125) on the
deterministic clock, get_prandom_u32 (7) with the same splitmix64 generator,
get_smp_processor_id (8), jiffies64 (118), xdp_get_buff_len (188),
xdp_adjust_head (44), xdp_adjust_meta (54), xdp_adjust_tail (65) with the
limits of `XdpBuffer` (xdp.py, after net/core/filter.c), csum_diff (28),
xdp_load_bytes (189) and xdp_store_bytes (190) as runtime/helpers.py defines
them, spin_lock (93) and spin_unlock (94) keeping the held lock in the env,
strtol (105) and strtoul (106) as one IR function, the dynptr helpers but the
ring buffer ones (dynptr.py, which also has the dynptr kfuncs), redirect (23) and redirect_map (51) recording the target in the env
(`RedirectKind`), ringbuf_output (130) and perf_event_output (25) appended to the
env's event log (events.py), ring buffer reservations and their submit/discard, dynptr
forms too (records.py), map_push_elem/pop_elem/peek_elem on queues and stacks
(queue_stack.py) and push/peek on bloom filters (bloom.py), the bpf_timer helpers (timers.py), fib_lookup over the configured routes (fib.py),
check_mtu over the configured devices (mtu.py), trace_printk for the formats a program holds
(printk.py), for_each_map_elem on arrays and hash maps (foreach.py), and the control helpers of control.py: tail_call (12) and
loop (181).  The clock and generator state lives in the env while native code
runs and is handed to the interpreter's `Services` around every Python call.
Every other helper is the runtime's Python implementation behind the callback
(helpers.py).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ..config import ETH_HLEN, XDP_FRAME_SIZE
from ...platform.helpers import HELPER_ID
from ..helpers import (
    BPF_F_BROADCAST, BPF_STRTOX_BASE_MASK, KERNEL_SPACE, REDIRECT_ACTION_MASK, REDIRECT_FLAG_MASK, SPIN_LOCK_FAULTS,
    SPIN_LOCK_SIZE, STRTOX_BASES, STRTOX_MAX_DIGITS, U64_MAX, XDP_ABORTED, XDP_REDIRECT,
)
from ..xdp import XDP_META_MAX
from .batch import set_packet_window
from .control import LOOP, emit_loop, tail_call_emitter
from .dynptr import HELPER_NATIVES as DYNPTR_HELPERS
from .env import ENV, RedirectKind
from .events import event_emitters
from .fib import fib_lookup
from .mtu import check_mtu
from .foreach import FOR_EACH, for_each_emitter
from .printk import TRACE_PRINTK, TRACE_VPRINTK, printk_emitter
from .queue_stack import queue_stack_emitters
from .records import record_emitters
from .timers import timer_emitters
from .irtypes import I1, I8, I32, I64, I8P, c64, join
from .maps import MapHelpers, MapShape, find_element, map_u32
from .translate import TAIL_CALL

if TYPE_CHECKING:
    from .translate import Translator


def _ktime(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    env = t.env
    reads = ENV.load(b, env, "clock_reads")
    ENV.store(b, env, "clock_reads", b.add(reads, c64(1)))
    return b.add(ENV.load(b, env, "clock_start"), b.mul(reads, ENV.load(b, env, "clock_step")))


def _prandom(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    """splitmix64, the high 32 bits (helpers.Services.prandom_u32)."""
    state = b.add(ENV.load(b, t.env, "prandom_state"), c64(0x9E3779B97F4A7C15))
    ENV.store(b, t.env, "prandom_state", state)
    z = b.mul(b.xor(state, b.lshr(state, c64(30))), c64(0xBF58476D1CE4E5B9))
    z = b.mul(b.xor(z, b.lshr(z, c64(27))), c64(0x94D049BB133111EB))
    return b.lshr(b.xor(z, b.lshr(z, c64(31))), c64(32))


def _env_value(name: str):
    def emit(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
        return ENV.load(b, t.env, name)
    return emit


def _buff_len(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    return b.sub(ENV.load(b, t.env, "pkt_end"), ENV.load(b, t.env, "pkt_data"))


def _packet(b: ir.IRBuilder, env) -> tuple[ir.Value, ir.Value, ir.Value]:
    return ENV.load(b, env, "pkt_meta"), ENV.load(b, env, "pkt_data"), ENV.load(b, env, "pkt_end")


def _frame(b: ir.IRBuilder, env, offset: ir.Value) -> ir.Value:
    return b.gep(b.inttoptr(ENV.load(b, env, "frame"), I8P), [offset])


def _offset_arg(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """The helpers take `int offset`: the low 32 bits, sign-extended."""
    return b.sext(b.trunc(value, I32), I64)


def _packet_adjust(check):
    """bpf_xdp_adjust_head/tail/meta: `check(t, b, offset, meta, data, end)` gives the
    helper's result (0 or -errno) and `apply(builder)`, which moves the packet window and
    runs only when that result is 0."""

    def emit(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
        error, apply = check(t, b, _offset_arg(b, args[1]), *_packet(b, t.env))
        with b.if_then(b.icmp_unsigned("==", error, c64(0))):
            apply(b)
        return error

    return emit


@_packet_adjust
def _adjust_head(t: "Translator", b: ir.IRBuilder, offset: ir.Value, meta: ir.Value, data: ir.Value,
                 end: ir.Value) -> tuple:
    env = t.env
    metalen = b.sub(data, meta)
    new_data = b.add(data, offset)
    invalid = b.or_(b.icmp_signed("<", new_data, b.add(c64(XDP_FRAME_SIZE), metalen)),
                    b.icmp_signed(">", new_data, b.sub(end, c64(ETH_HLEN))))

    def apply(ab: ir.IRBuilder) -> None:
        memmove = t.module.declare_intrinsic("llvm.memmove", [I8P, I8P, I64])
        ab.call(memmove, [_frame(ab, env, b.add(meta, offset)), _frame(ab, env, meta), metalen, ir.Constant(I1, 0)])
        set_packet_window(ab, env, ab.add(meta, offset), new_data, end)
    return b.select(invalid, c64(-errno.EINVAL), c64(0)), apply


@_packet_adjust
def _adjust_tail(t: "Translator", b: ir.IRBuilder, offset: ir.Value, meta: ir.Value, data: ir.Value,
                 end: ir.Value) -> tuple:
    env = t.env
    new_end = b.add(end, offset)
    invalid = b.or_(b.icmp_signed(">", new_end, ENV.load(b, env, "pkt_hard_end")),
                    b.icmp_signed("<", new_end, b.add(data, c64(ETH_HLEN))))

    def apply(ab: ir.IRBuilder) -> None:
        grown = ab.icmp_signed(">", offset, c64(0))
        with ab.if_then(grown):
            memset = t.module.declare_intrinsic("llvm.memset", [I8P, I64])
            ab.call(memset, [_frame(ab, env, end), ir.Constant(I8, 0), offset, ir.Constant(I1, 0)])
        set_packet_window(ab, env, meta, data, new_end)
    return b.select(invalid, c64(-errno.EINVAL), c64(0)), apply


@_packet_adjust
def _adjust_meta(t: "Translator", b: ir.IRBuilder, offset: ir.Value, meta: ir.Value, data: ir.Value,
                 end: ir.Value) -> tuple:
    new_meta = b.add(meta, offset)
    out_of_frame = b.or_(b.icmp_signed("<", new_meta, c64(XDP_FRAME_SIZE)), b.icmp_signed(">", new_meta, data))
    metalen = b.sub(data, new_meta)
    bad_length = b.or_(b.icmp_unsigned("!=", b.and_(metalen, c64(3)), c64(0)),
                       b.icmp_signed(">", metalen, c64(XDP_META_MAX)))
    error = b.select(out_of_frame, c64(-errno.EINVAL), b.select(bad_length, c64(-errno.EACCES), c64(0)))

    def apply(ab: ir.IRBuilder) -> None:
        set_packet_window(ab, t.env, new_meta, data, end)
    return error, apply


# -- checksums (runtime/helpers.py csum_diff: Linux 6.13+ bpf_csum_diff) ---------------------

M32 = 0xFFFFFFFF


def _csum_partial_fn(module: ir.Module) -> ir.Function:
    """i64 xdp_csum_partial(i8* data, i64 len, i64 seed): helpers.csum_partial, defined once."""
    fn = module.globals.get("xdp_csum_partial")
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(I64, [I8P, I64, I64]), name="xdp_csum_partial")
    fn.linkage = "internal"
    data, length, seed = fn.args
    entry, words, word, tail, tail_byte, fold = (fn.append_basic_block(n) for n in
                                                 ("entry", "words", "word", "tail", "tail_byte", "fold"))
    b = ir.IRBuilder(entry)
    count = b.lshr(length, c64(2))
    rest = b.and_(length, c64(3))
    b.branch(words)
    b.position_at_end(words)
    i = b.phi(I64)
    total = b.phi(I64)
    i.add_incoming(c64(0), entry)
    total.add_incoming(seed, entry)
    b.cbranch(b.icmp_unsigned("<", i, count), word, tail)
    b.position_at_end(word)
    pointer = b.bitcast(b.gep(data, [b.shl(i, c64(2))]), I32.as_pointer())
    total.add_incoming(b.add(total, b.zext(b.load(pointer, align=1), I64)), word)
    i.add_incoming(b.add(i, c64(1)), word)
    b.branch(words)
    # the last 1-3 bytes, zero-padded to a little-endian word
    b.position_at_end(tail)
    k = b.phi(I64)
    value = b.phi(I64)
    k.add_incoming(c64(0), words)
    value.add_incoming(c64(0), words)
    b.cbranch(b.icmp_unsigned("<", k, rest), tail_byte, fold)
    b.position_at_end(tail_byte)
    byte = b.zext(b.load(b.gep(data, [b.add(b.shl(count, c64(2)), k)])), I64)
    value.add_incoming(b.or_(value, b.shl(byte, b.shl(k, c64(3)))), tail_byte)
    k.add_incoming(b.add(k, c64(1)), tail_byte)
    b.branch(tail)
    b.position_at_end(fold)
    result = b.add(total, value)
    for _ in range(3):  # the sum stays below 2**63: three end-around folds reach 32 bits
        result = b.add(b.and_(result, c64(M32)), b.lshr(result, c64(32)))
    b.ret(result)
    return fn


def _csum_sub(b: ir.IRBuilder, a: ir.Value, x: ir.Value) -> ir.Value:
    """csum_sub: a + ~x in 32 bits with the end-around carry."""
    nx = b.xor(x, c64(M32))
    r = b.and_(b.add(a, nx), c64(M32))
    return b.and_(b.add(r, b.zext(b.icmp_unsigned("<", r, nx), I64)), c64(M32))


def _from32to16(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    for _ in range(2):
        x = b.add(b.and_(x, c64(0xFFFF)), b.lshr(x, c64(16)))
    return x


def _csum_diff(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    from_size, to_size = b.and_(args[1], c64(M32)), b.and_(args[3], c64(M32))
    source = t.memory.access(t, b, insn, args[0], from_size, write=False, helper=True)
    target = t.memory.access(t, b, insn, args[2], to_size, write=False, helper=True)
    partial = _csum_partial_fn(t.module)
    seed = b.and_(args[4], c64(M32))
    has_from = b.icmp_unsigned("!=", from_size, c64(0))
    has_to = b.icmp_unsigned("!=", to_size, c64(0))
    # csum_partial of an empty buffer is its seed: one formula per case, selected
    to_sum = b.call(partial, [target, to_size, seed])
    both = _csum_sub(b, to_sum, b.call(partial, [source, from_size, c64(0)]))
    from_only = b.xor(b.call(partial, [source, from_size, b.xor(seed, c64(M32))]), c64(M32))
    total = b.select(has_from, b.select(has_to, both, from_only), to_sum)
    return _from32to16(b, total)


# -- packet bytes (runtime/helpers.py xdp_load_bytes / xdp_store_bytes) ----------------------


def _xdp_bytes(to_packet: bool):
    def emit(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
        env = t.env
        offset, length = b.and_(args[1], c64(M32)), b.and_(args[3], c64(M32))
        meta, data, end = _packet(b, env)
        too_far = b.or_(b.icmp_unsigned(">", offset, c64(0xFFFF)), b.icmp_unsigned(">", length, c64(0xFFFF)))
        past_end = b.icmp_unsigned(">", b.add(offset, length), b.sub(end, data))
        error = b.select(too_far, c64(-errno.EFAULT), b.select(past_end, c64(-errno.EINVAL), c64(0)))
        copy = b.append_basic_block(f"pc{insn.pc}.bytes.copy")
        done = b.append_basic_block(f"pc{insn.pc}.bytes.done")
        start = b.block
        b.cbranch(b.icmp_unsigned("==", error, c64(0)), copy, done)
        b.position_at_end(copy)
        buf = t.memory.access(t, b, insn, args[2], length, write=not to_packet, helper=True)
        packet = _frame(b, env, b.add(data, offset))
        memmove = t.module.declare_intrinsic("llvm.memmove", [I8P, I8P, I64])
        dst, src = (packet, buf) if to_packet else (buf, packet)
        b.call(memmove, [dst, src, length, ir.Constant(I1, 0)])
        copied = b.block
        b.branch(done)
        return join(b, done, [(error, start), (c64(0), copied)])
    return emit


# -- redirect (runtime/helpers.py redirect, redirect_map) ------------------------------------


def _record_redirect(b: ir.IRBuilder, env, kind: RedirectKind, **fields: ir.Value) -> None:
    ENV.store(b, env, "redir_kind", c64(kind))
    for name, value in fields.items():
        ENV.store(b, env, f"redir_{name}", value)


def _redirect(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    bad = b.icmp_unsigned("!=", args[1], c64(0))
    ok = b.append_basic_block(f"pc{insn.pc}.redirect.ok")
    done = b.append_basic_block(f"pc{insn.pc}.redirect.done")
    start = b.block
    b.cbranch(bad, done, ok)
    b.position_at_end(ok)
    _record_redirect(b, t.env, RedirectKind.IFINDEX, target=b.and_(args[0], c64(M32)))
    b.branch(done)
    return join(b, done, [(c64(XDP_ABORTED), start), (c64(XDP_REDIRECT), ok)])


def _redirect_map_op(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    flag_mask = REDIRECT_FLAG_MASK.get(shape.type)
    if flag_mask is None:
        return None  # the Python helper faults: not a redirect map
    env = t.env
    fn = b.function
    key, flags = b.and_(args[1], c64(M32)), args[2]
    done = fn.append_basic_block(f"pc{insn.pc}.redirect_map.done")
    valid = fn.append_basic_block(f"pc{insn.pc}.redirect_map.valid")
    incoming = [(c64(XDP_ABORTED), b.block)]
    b.cbranch(b.icmp_unsigned("!=", b.and_(flags, c64(~(REDIRECT_ACTION_MASK | flag_mask))), c64(0)), done, valid)
    b.position_at_end(valid)
    if flag_mask & BPF_F_BROADCAST:
        broadcast = fn.append_basic_block(f"pc{insn.pc}.redirect_map.broadcast")
        single = fn.append_basic_block(f"pc{insn.pc}.redirect_map.single")
        b.cbranch(b.icmp_unsigned("!=", b.and_(flags, c64(BPF_F_BROADCAST)), c64(0)), broadcast, single)
        bb = ir.IRBuilder(broadcast)
        _record_redirect(bb, env, RedirectKind.BROADCAST, map=c64(shape.index), flags=flags)
        bb.branch(done)
        incoming.append((c64(XDP_REDIRECT), broadcast))
        b.position_at_end(single)
    present, offset = find_element(t, b, insn, shape, key)
    hit = fn.append_basic_block(f"pc{insn.pc}.redirect_map.hit")
    incoming.append((b.and_(flags, c64(REDIRECT_ACTION_MASK)), b.block))
    b.cbranch(present, hit, done)
    b.position_at_end(hit)
    _record_redirect(b, env, RedirectKind.MAP, map=c64(shape.index), key=key, target=map_u32(b, env, shape, offset))
    incoming.append((c64(XDP_REDIRECT), b.block))
    b.branch(done)
    return join(b, done, incoming)


# -- spin locks (runtime/helpers.py spin_lock, spin_unlock) ------------------------------------
# env.spin_lock holds the address of the lock the run holds (0: none); the main program's
# exit checks it (Translator._exit).


def _spin_lock(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    t.memory.access(t, b, insn, args[0], SPIN_LOCK_SIZE, write=False, helper=True)
    with b.if_then(b.icmp_unsigned("!=", ENV.load(b, t.env, "spin_lock"), c64(0)), likely=False):
        t.message_fault(b, insn.pc, SPIN_LOCK_FAULTS["call"])
    ENV.store(b, t.env, "spin_lock", args[0])
    return c64(0)


def _spin_unlock(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    t.memory.access(t, b, insn, args[0], SPIN_LOCK_SIZE, write=False, helper=True)
    held = ENV.load(b, t.env, "spin_lock")
    with b.if_then(b.icmp_unsigned("==", held, c64(0)), likely=False):
        t.message_fault(b, insn.pc, SPIN_LOCK_FAULTS["not_held"])
    with b.if_then(b.icmp_unsigned("!=", held, args[0]), likely=False):
        t.message_fault(b, insn.pc, SPIN_LOCK_FAULTS["other"])
    ENV.store(b, t.env, "spin_lock", c64(0))
    return c64(0)


# -- strtol, strtoul (runtime/helpers.py strtoull, _strtox) --------------------------------------


def _strtox_fn(module: ir.Module) -> ir.Function:
    """i64 xdp_strtox(i8* buf, i64 len, i64 flags, i64 signed, i64* res): r0 of bpf_strtol
    (signed) or bpf_strtoul, storing the value in *res on success; defined once."""
    fn = module.globals.get("xdp_strtox")
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(I64, [I8P, I64, I64, I64, I64.as_pointer()]), name="xdp_strtox")
    fn.linkage = "internal"
    buf, length, flags, signed, out = fn.args
    names = ("entry", "skip", "space", "skipped", "setup", "digit", "more", "parsed", "some", "sign", "store",
             "einval", "erange")
    blocks = dict(zip(names, (fn.append_basic_block(n) for n in names)))
    b = ir.IRBuilder(blocks["entry"])

    def byte(at: ir.Value) -> ir.Value:
        return b.zext(b.load(b.gep(buf, [at])), I64)

    def one_of(value: ir.Value, options) -> ir.Value:
        hit = ir.Constant(I1, 0)
        for option in sorted(options):
            hit = b.or_(hit, b.icmp_unsigned("==", value, c64(option)))
        return hit

    base = b.and_(flags, c64(BPF_STRTOX_BASE_MASK))
    bad = b.or_(b.not_(one_of(base, STRTOX_BASES)), b.icmp_unsigned("!=", b.and_(flags, c64(~BPF_STRTOX_BASE_MASK)),
                                                                      c64(0)))
    b.cbranch(b.or_(bad, b.icmp_unsigned("==", length, c64(0))), blocks["einval"], blocks["skip"])
    # leading isspace() bytes
    b.position_at_end(blocks["skip"])
    i = b.phi(I64)
    i.add_incoming(c64(0), blocks["entry"])
    b.cbranch(b.icmp_unsigned("<", i, length), blocks["space"], blocks["skipped"])
    b.position_at_end(blocks["space"])
    i.add_incoming(b.add(i, c64(1)), blocks["space"])
    b.cbranch(one_of(byte(i), KERNEL_SPACE), blocks["skip"], blocks["skipped"])
    # one '-', then at least one byte to parse
    b.position_at_end(blocks["skipped"])
    inside = b.icmp_unsigned("<", i, length)
    negative = b.and_(inside, b.icmp_unsigned("==", byte(b.select(inside, i, c64(0))), c64(ord("-"))))
    at = b.add(i, b.zext(negative, I64))
    b.cbranch(b.icmp_unsigned("==", at, length), blocks["einval"], blocks["setup"])
    # the kernel's NUL-terminated copy of at most 63 bytes: char_at(k) is 0 from `rest` on
    b.position_at_end(blocks["setup"])
    left = b.sub(length, at)
    rest = b.select(b.icmp_unsigned("<", left, c64(STRTOX_MAX_DIGITS)), left, c64(STRTOX_MAX_DIGITS))

    def char_at(k: ir.Value) -> ir.Value:
        within = b.icmp_unsigned("<", k, rest)
        return b.select(within, byte(b.add(at, b.select(within, k, c64(0)))), c64(0))

    def digit(c: ir.Value) -> ir.Value:
        lower = b.or_(c, c64(0x20))
        decimal = b.icmp_unsigned("<", b.sub(c, c64(ord("0"))), c64(10))
        letter = b.icmp_unsigned("<", b.sub(lower, c64(ord("a"))), c64(6))
        return b.select(decimal, b.sub(c, c64(ord("0"))), b.select(letter, b.sub(lower, c64(ord("a") - 10)), c64(99)))

    c0, c1, c2 = (char_at(c64(k)) for k in range(3))
    zero = b.icmp_unsigned("==", c0, c64(ord("0")))
    hex_prefix = b.and_(zero, b.icmp_unsigned("==", b.or_(c1, c64(0x20)), c64(ord("x"))))
    hex_digit = b.icmp_unsigned("<", digit(c2), c64(16))
    implied = b.select(zero, b.select(b.and_(hex_prefix, hex_digit), c64(16), c64(8)), c64(10))
    base = b.select(b.icmp_unsigned("==", base, c64(0)), implied, base)
    start = b.select(b.and_(b.icmp_unsigned("==", base, c64(16)), hex_prefix), c64(2), c64(0))
    b.branch(blocks["digit"])
    # digits while they are the base's (_parse_integer_limit), overflow noted past 60 bits
    b.position_at_end(blocks["digit"])
    k, value, overflow = b.phi(I64), b.phi(I64), b.phi(I1)
    for phi, initial in ((k, start), (value, c64(0)), (overflow, ir.Constant(I1, 0))):
        phi.add_incoming(initial, blocks["setup"])
    d = digit(char_at(k))
    b.cbranch(b.icmp_unsigned("<", d, base), blocks["more"], blocks["parsed"])
    b.position_at_end(blocks["more"])
    high = b.icmp_unsigned("!=", b.lshr(value, c64(60)), c64(0))
    past = b.icmp_unsigned(">", value, b.udiv(b.sub(c64(U64_MAX), d), base))
    overflow.add_incoming(b.or_(overflow, b.and_(high, past)), blocks["more"])
    value.add_incoming(b.add(b.mul(value, base), d), blocks["more"])
    k.add_incoming(b.add(k, c64(1)), blocks["more"])
    b.branch(blocks["digit"])
    b.position_at_end(blocks["parsed"])
    b.cbranch(overflow, blocks["erange"], blocks["some"])
    b.position_at_end(blocks["some"])
    b.cbranch(b.icmp_unsigned("==", k, start), blocks["einval"], blocks["sign"])
    # bpf_strtol: the value must fit an s64 with its sign; bpf_strtoul: no sign at all
    b.position_at_end(blocks["sign"])
    negated = b.sub(c64(0), value)
    is_signed = b.icmp_unsigned("!=", signed, c64(0))
    unfit = b.select(negative, b.icmp_signed(">", negated, c64(0)), b.icmp_signed("<", value, c64(0)))
    b.cbranch(b.and_(is_signed, unfit), blocks["erange"], blocks["store"])
    b.position_at_end(blocks["store"])
    refused = fn.append_basic_block("unsigned_negative")
    stored = fn.append_basic_block("stored")
    b.cbranch(b.and_(b.not_(is_signed), negative), refused, stored)
    ir.IRBuilder(refused).ret(c64(-errno.EINVAL))
    b.position_at_end(stored)
    b.store(b.select(negative, negated, value), out, align=1)
    b.ret(b.add(at, k))
    ir.IRBuilder(blocks["einval"]).ret(c64(-errno.EINVAL))
    ir.IRBuilder(blocks["erange"]).ret(c64(-errno.ERANGE))
    return fn


def _strtox(signed: bool):
    def emit(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
        res = b.bitcast(t.memory.access(t, b, insn, args[3], 8, write=True, helper=True), I64.as_pointer())
        b.store(c64(0), res, align=1)  # *res = 0 before anything is read, as the helper
        buf = t.memory.access(t, b, insn, args[0], args[1], write=False, helper=True)
        return b.call(_strtox_fn(t.module), [buf, args[1], args[2], c64(int(signed)), res])
    return emit


SIMPLE_NATIVES = {
    5: _ktime,
    7: _prandom,
    8: _env_value("cpu"),
    23: _redirect,
    28: _csum_diff,
    44: _adjust_head,
    54: _adjust_meta,
    65: _adjust_tail,
    118: _env_value("jiffies"),
    125: _ktime,
    HELPER_ID["ktime_get_coarse_ns"]: _ktime,
    HELPER_ID["ktime_get_tai_ns"]: _ktime,
    HELPER_ID["get_numa_node_id"]: _env_value("numa_node"),
    188: _buff_len,
    189: _xdp_bytes(to_packet=False),
    190: _xdp_bytes(to_packet=True),
    LOOP: emit_loop,
    HELPER_ID["spin_lock"]: _spin_lock,
    HELPER_ID["spin_unlock"]: _spin_unlock,
    HELPER_ID["strtol"]: _strtox(signed=True),
    HELPER_ID["strtoul"]: _strtox(signed=False),
    HELPER_ID["fib_lookup"]: fib_lookup,
    HELPER_ID["check_mtu"]: check_mtu,
    **{HELPER_ID[name]: emit for name, emit in DYNPTR_HELPERS.items()},
}
REDIRECT_MAP = 51


def native_emitters(shapes: tuple[MapShape, ...], tail_targets: dict[int, int] | None = None) -> dict:
    """{helper id: emitter} for a program whose natively handled maps are `shapes` and
    whose tail calls may enter the programs `tail_targets` names ({program index: unit})."""
    maps = MapHelpers(shapes)

    def redirect_map(t, b, insn, args):
        return maps.dispatch(t, b, insn, REDIRECT_MAP, args, _redirect_map_op)

    emitters = {**SIMPLE_NATIVES, **maps.emitters(), REDIRECT_MAP: redirect_map, **maps.percpu_emitters(), **event_emitters(maps),
                **queue_stack_emitters(maps), **timer_emitters(maps), **record_emitters(maps),
                TRACE_PRINTK: printk_emitter(shapes), TRACE_VPRINTK: printk_emitter(shapes, TRACE_VPRINTK),
                FOR_EACH: for_each_emitter(maps)}
    if tail_targets is not None:
        emitters[TAIL_CALL] = tail_call_emitter(maps, tail_targets)
    return emitters
