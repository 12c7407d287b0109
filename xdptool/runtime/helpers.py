"""BPF helpers for XDP programs, as one table {id: HelperSpec}.

Ids and names follow ___BPF_FUNC_MAPPER (uapi/linux/bpf.h); behaviour, limits,
flags and negative errno follow the kernel (net/core/filter.c, kernel/bpf/helpers.c,
kernel/bpf/ringbuf.c, kernel/trace/bpf_trace.c) as of Linux 6.18.

An implementation is ``impl(env, r1, r2, r3, r4, r5) -> int | None`` over unsigned
64-bit arguments; it returns the new r0 (None leaves r0 as it is, as a failed
tail call does).  `env` is the engine's side of the contract — `HelperEnv`
below — so the interpreter and the compiled engine share these semantics.
Memory faults inside a helper (a bad pointer argument) raise MemoryFault like
any load or store.
"""


import errno
from array import array
import struct
from typing import Any, Callable, NamedTuple, Protocol

from ..ebpf.semantics import BPF_MAX_LOOPS
from ..elf.model import MapType
from ..errors import XdpError
from ..platform.helper_ids import HELPER_ID, helper_name, known_helper
from .config import ETH_HLEN, RuntimeConfig
from .maps_base import Map
from .maps_bloom import BloomFilterMap
from .maps_of_maps import MapsOfMaps
from .maps_misc import EventMap, QueueStackMap
from .memory import MemoryFault
from .xdp import XdpBuffer

U64 = (1 << 64) - 1
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def neg(err: int) -> int:
    """A negative errno as the unsigned 64-bit r0 value."""
    return (-err) & U64


# -- the engine's side -------------------------------------------------------------


class HelperEnv(Protocol):
    """What helpers need from an engine (the VM implements it; see vm.py)."""

    mem: Any  # .read(addr, n) -> bytes, .write(addr, data), .read_cstring(addr, limit)
    config: RuntimeConfig
    xdp: XdpBuffer
    services: "Services"
    state: "RunState"  # the current run's accumulators
    timers: "Timers"  # the bpf_timers programs initialised, for the engine's lifetime

    def map_arg(self, handle: int) -> Map: ...  # the Map a map pointer argument refers to
    def map_handle(self, m: Map) -> int: ...  # the pointer an ld_imm64 of `m` loads
    def value_pointer(self, m: Map, offset: int) -> int: ...  # address of m.buffer[offset:]
    def packet_changed(self) -> None: ...  # data/data_end/data_meta moved
    def scratch(self, name: str, size: int) -> int: ...  # a fresh zeroed region, for this run
    def scratch_bytes(self, addr: int) -> tuple[str, bytes] | None: ...  # name/contents of a scratch region
    def release_scratch(self, addr: int) -> None: ...
    def record(self, name: str, size: int) -> int: ...  # a ring buffer record (scratch), 0 if RECORD_SLOTS are held
    def call_function(self, func: int, args: tuple[int, ...]) -> int: ...  # run a callback
    def tail_call(self, m: Map, index: int) -> None: ...  # transfers control if the slot is set


class RunState:
    """What one run accumulates besides r0 and the packet (a plain class: helpers mutate it,
    and a dataclass would compile its methods at every start)."""

    __slots__ = ("trace_printk", "events", "redirect", "tail_calls", "ringbuf_used", "lock")

    def __init__(self, trace_printk: list, events: list) -> None:
        self.trace_printk = trace_printk
        self.events = events
        self.redirect: dict | None = None
        self.tail_calls = 0
        self.ringbuf_used: dict | None = None
        self.lock: int | None = None  # the bpf_spin_lock the program holds (its address)


class Services:
    """Deterministic clock and random numbers for one engine (never the host's)."""

    def __init__(self, config: RuntimeConfig):
        self.config = config
        self.reads = 0
        self.rng = config.prandom_seed & U64

    def ktime_ns(self) -> int:
        """clock_start + n * clock_step for the n-th clock read of this engine."""
        now = self.config.clock_start_ns + self.reads * self.config.clock_step_ns
        self.reads += 1
        return now & U64

    def prandom_u32(self) -> int:
        """splitmix64 over `prandom_seed`; the high 32 bits of each output."""
        self.rng = (self.rng + 0x9E3779B97F4A7C15) & U64
        z = self.rng
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
        return (z ^ (z >> 31)) >> 32


class HelperSpec(NamedTuple):
    """A helper id with its Python implementation."""

    id: int
    name: str
    impl: Callable[..., int | None]


# -- map helpers (kernel/bpf/helpers.c) --------------------------------------------------


def _key(env: HelperEnv, m: Map, addr: int) -> bytes:
    return env.mem.read(addr, m.key_size)


def map_lookup_elem(env, map_ptr, key_ptr, *_):
    m = env.map_arg(map_ptr)
    if isinstance(m, MapsOfMaps):  # the inner map's handle
        inner = m.inner_map(_key(env, m, key_ptr))
        return 0 if inner is None else env.map_handle(inner)
    if not m.has_values:
        return 0
    offset = m.lookup_offset(_key(env, m, key_ptr), env.config.cpu)
    return 0 if offset is None else env.value_pointer(m, offset)


def map_lookup_percpu_elem(env, map_ptr, key_ptr, cpu, *_):
    """A per-CPU map's value of CPU `cpu` (a u32); NULL from nr_cpu_ids (config.ncpus) on."""
    m = env.map_arg(map_ptr)
    key = _key(env, m, key_ptr)
    cpu &= 0xFFFFFFFF
    if cpu >= env.config.ncpus or not m.has_values:
        return 0
    offset = m.lookup_offset(key, cpu)
    return 0 if offset is None else env.value_pointer(m, offset)


def map_update_elem(env, map_ptr, key_ptr, value_ptr, flags, *_):
    m = env.map_arg(map_ptr)
    if isinstance(m, QueueStackMap) or not m.has_values:
        return neg(errno.EINVAL)
    value = env.mem.read(value_ptr, m.value_size)
    return m.update(_key(env, m, key_ptr), value, flags, cpu=env.config.cpu) & U64


def map_delete_elem(env, map_ptr, key_ptr, *_):
    m = env.map_arg(map_ptr)
    if isinstance(m, QueueStackMap) or not m.has_values:
        return neg(errno.EINVAL)
    return m.delete(_key(env, m, key_ptr)) & U64


def _queue(env, map_ptr) -> QueueStackMap:
    m = env.map_arg(map_ptr)
    if not isinstance(m, QueueStackMap):
        raise MemoryFault(f"map {m.name} is not a queue or stack", map_ptr, f"map {m.name}")
    return m


def map_push_elem(env, map_ptr, value_ptr, flags, *_):
    m = env.map_arg(map_ptr)
    if not isinstance(m, BloomFilterMap):
        m = _queue(env, map_ptr)
    return m.push(env.mem.read(value_ptr, m.value_size), flags) & U64


def _pop_or_peek(env, map_ptr, value_ptr, take: bool):
    """__queue_map_get / __stack_map_get: an empty map zeroes the buffer and says -ENOENT."""
    m = _queue(env, map_ptr)
    value = m.pop() if take else m.peek()
    env.mem.write(value_ptr, bytes(m.value_size) if value is None else value)
    return neg(errno.ENOENT) if value is None else 0


def map_pop_elem(env, map_ptr, value_ptr, *_):
    return _pop_or_peek(env, map_ptr, value_ptr, True)


def map_peek_elem(env, map_ptr, value_ptr, *_):
    """A queue's or stack's element into the buffer; a bloom filter's answer about the value
    the buffer holds (0: maybe pushed, -ENOENT: never)."""
    m = env.map_arg(map_ptr)
    if isinstance(m, BloomFilterMap):
        return m.peek_value(env.mem.read(value_ptr, m.value_size)) & U64
    return _pop_or_peek(env, map_ptr, value_ptr, False)


def for_each_map_elem(env, map_ptr, callback, ctx_ptr, flags, *_):
    """bpf_for_each_map_elem: callback(map, key*, value*, ctx) for each element (Map.each:
    array index order, a hash map's table order as the walk reaches each slot); 1 stops.

    Array-family and hash-family maps only (kernel: map_set_for_each_callback_args);
    returns the number of elements visited.  The key is copied into the caller's depth's
    read-only key region (VmEngine.for_each_keys: the same address for every element, as the
    kernel's array walk passes one local u32), the value pointer is the element's own.
    """
    m = env.map_arg(map_ptr)
    if flags:
        return neg(errno.EINVAL)
    if not m.has_values or m.type == MapType.LPM_TRIE:
        return neg(errno.ENOTSUP)
    key_region = env.for_each_keys[min(len(env.frames), len(env.for_each_keys) - 1)]
    visited = 0
    for key, offset in m.each(env.config.cpu):
        key_region.buf[:len(key)] = key
        visited += 1
        if env.call_function(callback, (map_ptr, key_region.base, env.value_pointer(m, offset), ctx_ptr, 0)) & U64:
            break
    return visited


def loop(env, nr_loops, callback, ctx_ptr, flags, *_):
    """bpf_loop: callback(i, ctx) for i < nr_loops (at most 1 << 23); 1 stops early.

    The count is a u32: BPF_CALL_4(bpf_loop, u32, nr_loops, ...) in kernel/bpf/bpf_iter.c
    truncates the register, so 2^32 + 1 loops once."""
    nr_loops &= 0xFFFFFFFF
    if flags:
        return neg(errno.EINVAL)
    if nr_loops > BPF_MAX_LOOPS:
        return neg(errno.E2BIG)
    for i in range(nr_loops):
        if env.call_function(callback, (i, ctx_ptr, 0, 0, 0)) & U64:
            return i + 1
    return nr_loops


# -- time, randomness, cpu ---------------------------------------------------------


def ktime_get_ns(env, *_):
    return env.services.ktime_ns()


def jiffies64(env, *_):
    return env.config.jiffies & U64


def get_prandom_u32(env, *_):
    return env.services.prandom_u32()


def get_smp_processor_id(env, *_):
    return env.config.cpu


def get_numa_node_id(env, *_):
    return env.config.numa_node


# -- the XDP buffer (net/core/filter.c) --------------------------------------------------


def _adjust(method: str):
    def impl(env, _ctx, offset, *_):
        result = getattr(env.xdp, method)(s32(offset))
        env.packet_changed()
        return result & U64

    impl.__name__ = method
    return impl


def xdp_get_buff_len(env, *_):
    return env.xdp.length


def _xdp_bytes(name: str, copy):
    """bpf_xdp_load_bytes / store_bytes: the same span check, then `copy(env, start, buf, length)`
    moves the bytes between the frame (from `start`) and the program's buffer."""

    def helper(env, _ctx, offset, buf, length, *_):
        offset, length = offset & 0xFFFFFFFF, length & 0xFFFFFFFF
        err = env.xdp.check_span(offset, length)
        if err:
            return err & U64
        copy(env, env.xdp.data + offset, buf, length)
        return 0

    helper.__name__ = name
    return helper


def _frame_to_buffer(env, start, buf, length):
    env.mem.write(buf, bytes(env.xdp.frame[start:start + length]))


def _buffer_to_frame(env, start, buf, length):
    env.xdp.frame[start:start + length] = env.mem.read(buf, length)


xdp_load_bytes = _xdp_bytes("xdp_load_bytes", _frame_to_buffer)
xdp_store_bytes = _xdp_bytes("xdp_store_bytes", _buffer_to_frame)


def csum_partial(data: bytes, seed: int) -> int:
    """x86_64 csum_partial: ones'-complement sum of little-endian u32 words (the tail
    zero-padded) plus `seed`, folded to 32 bits."""
    data = bytes(data) + bytes(-len(data) % 4)
    total = seed & 0xFFFFFFFF
    for i in range(0, len(data), 4):
        total += int.from_bytes(data[i:i + 4], "little")
    while total >> 32:
        total = (total & 0xFFFFFFFF) + (total >> 32)
    return total


def csum_sub(a: int, b: int) -> int:
    """include/net/checksum.h csum_sub = csum_add(a, ~b), 32-bit with end-around carry."""
    nb = ~b & 0xFFFFFFFF
    r = (a + nb) & 0xFFFFFFFF
    return (r + (r < nb)) & 0xFFFFFFFF


def from32to16(x: int) -> int:
    x = (x & 0xFFFF) + (x >> 16)
    return (x & 0xFFFF) + (x >> 16)


def csum_diff(env, from_ptr, from_size, to_ptr, to_size, seed):
    """bpf_csum_diff as of Linux 6.13 (net/core/filter.c, "bpf_csum_diff: optimize and
    homogenize for all archs"): any sizes, results folded to 16 bits, one case per
    which buffers are empty.  Checked against Linux 6.18 on random inputs."""
    source = env.mem.read(from_ptr, from_size & 0xFFFFFFFF)
    target = env.mem.read(to_ptr, to_size & 0xFFFFFFFF)
    total = seed & 0xFFFFFFFF  # neither buffer: the seed, folded like the rest
    if source and target:
        total = csum_sub(csum_partial(target, total), csum_partial(source, 0))
    elif target:
        total = csum_partial(target, total)
    elif source:
        total = ~csum_partial(source, ~total & 0xFFFFFFFF) & 0xFFFFFFFF
    return from32to16(total)


# -- redirect (net/core/filter.c: bpf_xdp_redirect, __bpf_xdp_redirect_map) -----------------

BPF_F_BROADCAST = 1 << 3
BPF_F_EXCLUDE_INGRESS = 1 << 4
REDIRECT_FLAG_MASK = {
    MapType.DEVMAP: BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
    MapType.DEVMAP_HASH: BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS,
    MapType.CPUMAP: 0,
    MapType.XSKMAP: 0,
}
_REDIRECT_TARGET_FIELD = {
    MapType.DEVMAP: "ifindex", MapType.DEVMAP_HASH: "ifindex", MapType.CPUMAP: "cpu", MapType.XSKMAP: "queue",
}


REDIRECT_ACTION_MASK = XDP_ABORTED | XDP_DROP | XDP_PASS | XDP_TX  # flags' low bits: the fallback verdict


def ifindex_target(ifindex: int) -> dict:
    """RunResult.redirect of bpf_redirect (the compiled engine builds it here too)."""
    return {"ifindex": ifindex & 0xFFFFFFFF}


def map_target(m: Map, key: int, target: int) -> dict:
    """RunResult.redirect of a bpf_redirect_map hit: the slot's first u32 named by map kind."""
    record = {"map": m.name, "key": key, _REDIRECT_TARGET_FIELD[m.type]: target}
    if m.type == MapType.CPUMAP:
        record["cpu"] = key
        record["qsize"] = target
    return record


def broadcast_target(m: Map, flags: int) -> dict:
    return {"map": m.name, "broadcast": True, "exclude_ingress": bool(flags & BPF_F_EXCLUDE_INGRESS)}


def redirect(env, ifindex, flags, *_):
    if flags:
        return XDP_ABORTED
    env.state.redirect = ifindex_target(ifindex)
    return XDP_REDIRECT


def redirect_map(env, map_ptr, key, flags, *_):
    m = env.map_arg(map_ptr)
    flag_mask = REDIRECT_FLAG_MASK.get(m.type)
    if flag_mask is None:
        raise MemoryFault(f"bpf_redirect_map on map {m.name} of type {m.type.kernel_name}",
                          map_ptr, f"map {m.name}")
    if flags & ~(REDIRECT_ACTION_MASK | flag_mask):
        return XDP_ABORTED
    key &= 0xFFFFFFFF
    if flags & BPF_F_BROADCAST:
        env.state.redirect = broadcast_target(m, flags)
        return XDP_REDIRECT
    offset = m.find_offset(key.to_bytes(8, "little")[: m.key_size])
    if offset is None:
        return flags & REDIRECT_ACTION_MASK
    target = int.from_bytes(m.buffer[offset:offset + 4], "little")
    env.state.redirect = map_target(m, key, target)
    return XDP_REDIRECT


def tail_call(env, _ctx, map_ptr, index, *_):
    m = env.map_arg(map_ptr)
    if m.type != MapType.PROG_ARRAY:
        raise MemoryFault(f"bpf_tail_call on map {m.name} of type {m.type.kernel_name}", map_ptr, f"map {m.name}")
    env.tail_call(m, index & 0xFFFFFFFF)  # returns only when the call fails
    return None


# -- output: trace_printk, ringbuf, perf ---------------------------------------------

def trace_printk(env, fmt_ptr, fmt_size, a1, a2, a3):
    """kernel/bpf/helpers.c bpf_trace_printk: the format up to its first NUL within fmt_size
    (none: -EINVAL) checked and formatted as runtime/printk.py says; the text's length."""
    return _print(env, env.mem.read(fmt_ptr, fmt_size & 0xFFFFFFFF), (a1, a2, a3))


def trace_vprintk(env, fmt_ptr, fmt_size, data, data_len, *_):
    """kernel/trace/bpf_trace.c bpf_trace_vprintk (libbpf's bpf_printk with more than 3
    arguments): the arguments are the data_len / 8 u64s at `data`; a data_len the kernel
    refuses (printk.vararg_count), or `data` NULL with data_len not 0: -EINVAL.
    Then as bpf_trace_printk, the format using at most those arguments.  (The format is read
    first, where the jit's native site reads it: a program both of whose pointers are bad
    faults on the format on both engines.)"""
    from .printk import vararg_count

    fmt = env.mem.read(fmt_ptr, fmt_size & 0xFFFFFFFF)
    count = vararg_count(data_len & 0xFFFFFFFF)
    if count is None or (count and not data):
        return neg(errno.EINVAL)
    raw = env.mem.read(data, 8 * count) if count else b""
    return _print(env, fmt, struct.unpack(f"<{count}Q", raw))


def _print(env, fmt: bytes, args: tuple[int, ...]) -> int:
    """bpf_bprintf_prepare and the trace line: the text's length, or -errno."""
    from . import printk

    nul = fmt.find(b"\0")
    pieces = printk.parse(fmt[:nul], len(args)) if nul >= 0 else None
    if pieces is None:
        return neg(errno.EINVAL)
    taken = printk.gather(env.mem.copy_string_nofault, env.mem.copy_nofault, pieces, args)
    if isinstance(taken, int):
        return neg(-taken)
    text = printk.render(pieces, args, taken)
    env.state.trace_printk.append(printk.trace_text(text))
    return len(text)


BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP = 1, 2
BPF_RINGBUF_HDR_SZ = 8


def _ringbuf(env, map_ptr) -> EventMap:
    m = env.map_arg(map_ptr)
    if m.type != MapType.RINGBUF:
        raise MemoryFault(f"map {m.name} is not a ringbuf", map_ptr, f"map {m.name}")
    return m


def _ringbuf_room(env, m: EventMap, size: int) -> bool:
    """Records of one run share the ring (records are 8-byte aligned plus an 8-byte header)."""
    used = env.state.ringbuf_used if env.state.ringbuf_used is not None else {}
    env.state.ringbuf_used = used
    need = BPF_RINGBUF_HDR_SZ + ((size + 7) & ~7)
    if used.get(m.name, 0) + need > m.ring_size:
        return False
    used[m.name] = used.get(m.name, 0) + need
    return True


def ringbuf_output(env, map_ptr, data, size, flags, *_):
    m = _ringbuf(env, map_ptr)
    if flags & ~(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP):
        return neg(errno.EINVAL)
    payload = env.mem.read(data, size)
    if not _ringbuf_room(env, m, size):
        return neg(errno.EAGAIN)
    env.state.events.append({"type": "ringbuf", "map": m.name, "data": payload.hex()})
    return 0


RECORD_SLOTS = 64  # ring buffer records a run may hold at once (a model limit: one more is refused as a full ring)


def ringbuf_reserve(env, map_ptr, size, flags, *_):
    """flags, then the ring's room (taken), then a record (RECORD_SLOTS at most: else NULL)."""
    m = _ringbuf(env, map_ptr)
    if flags or not _ringbuf_room(env, m, size):
        return 0
    return env.record(f"ringbuf {m.name} record", size)


def _ringbuf_finish(keep: bool):
    def impl(env, record, flags, *_):
        found = env.scratch_bytes(record)
        if found is None:
            raise MemoryFault("ringbuf submit/discard of a pointer that is not a reservation", record, None)
        name, payload = found
        env.release_scratch(record)
        if keep:
            env.state.events.append({"type": "ringbuf", "map": name.split()[1], "data": payload.hex()})
        return 0

    impl.__name__ = "ringbuf_submit" if keep else "ringbuf_discard"
    return impl


# -- dynptrs (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c) ----------------------------------------
# struct bpf_dynptr_kern on the program's stack: data, size (low 24 bits; the type from bit 28,
# read-only at bit 31), offset.  An XDP dynptr's data is the context pointer it was made from.
DYNPTR = struct.Struct("<QII")
DYNPTR_LOCAL, DYNPTR_RINGBUF, DYNPTR_SKB, DYNPTR_XDP = 1, 2, 3, 4  # enum bpf_dynptr_type
DYNPTR_MAX_SIZE = DYNPTR_SIZE_MASK = (1 << 24) - 1
DYNPTR_TYPE_SHIFT, DYNPTR_RDONLY_BIT = 28, 1 << 31


class Dynptr(NamedTuple):
    """A bpf_dynptr decoded from its 16 bytes (DYNPTR, dynptr_load): data, size, type, read-only, offset."""

    data: int
    size: int
    type: int
    rdonly: bool
    offset: int


def dynptr_load(env, addr: int) -> Dynptr:
    data, size, offset = DYNPTR.unpack(env.mem.read(addr, DYNPTR.size))
    return Dynptr(data, size & DYNPTR_SIZE_MASK, size >> DYNPTR_TYPE_SHIFT & 7, bool(size & DYNPTR_RDONLY_BIT),
                  offset)


def dynptr_store(env, addr: int, d: Dynptr | None) -> None:
    """bpf_dynptr_init, or bpf_dynptr_set_null for None."""
    if d is None:
        env.mem.write(addr, bytes(DYNPTR.size))
        return
    size = d.size | d.type << DYNPTR_TYPE_SHIFT | (DYNPTR_RDONLY_BIT if d.rdonly else 0)
    env.mem.write(addr, DYNPTR.pack(d.data, size, d.offset & 0xFFFFFFFF))


def dynptr_check_off_len(d: Dynptr, offset: int, length: int) -> int:
    """bpf_dynptr_check_off_len: 0 or -E2BIG."""
    return -errno.E2BIG if length > d.size or offset > d.size - length else 0


def dynptr_from_mem(env, data, size, flags, ptr, *_):
    size &= 0xFFFFFFFF
    err = -errno.E2BIG if size > DYNPTR_MAX_SIZE else -errno.EINVAL if flags else 0
    dynptr_store(env, ptr, None if err else Dynptr(data, size, DYNPTR_LOCAL, False, 0))
    return err & U64


def _dynptr_xdp_copy(env, d: Dynptr, offset: int, buf: int, length: int, to_frame: bool) -> int:
    """__bpf_xdp_load_bytes / __bpf_xdp_store_bytes at the dynptr's offset (linear frames)."""
    offset += d.offset
    err = env.xdp.check_span(offset, length)
    if err:
        return err
    (_buffer_to_frame if to_frame else _frame_to_buffer)(env, env.xdp.data + offset, buf, length)
    return 0


def dynptr_read(env, dst, length, src, offset, flags):
    length, offset = length & 0xFFFFFFFF, offset & 0xFFFFFFFF
    d = dynptr_load(env, src)
    if not d.data or flags:
        return neg(errno.EINVAL)
    err = dynptr_check_off_len(d, offset, length)
    if not err:
        if d.type == DYNPTR_XDP:
            err = _dynptr_xdp_copy(env, d, offset, dst, length, to_frame=False)
        else:
            env.mem.write(dst, env.mem.read(d.data + d.offset + offset, length))
    return err & U64


def dynptr_write(env, dst, offset, src, length, flags):
    length, offset = length & 0xFFFFFFFF, offset & 0xFFFFFFFF
    d = dynptr_load(env, dst)
    if not d.data or d.rdonly:
        return neg(errno.EINVAL)
    err = dynptr_check_off_len(d, offset, length) or (-errno.EINVAL if flags else 0)
    if not err:
        if d.type == DYNPTR_XDP:
            err = _dynptr_xdp_copy(env, d, offset, src, length, to_frame=True)
        else:
            env.mem.write(d.data + d.offset + offset, env.mem.read(src, length))
    return err & U64


def dynptr_data(env, ptr, offset, length, *_):
    """A pointer into a LOCAL or RINGBUF dynptr; skb and xdp ones must use the slice kfuncs."""
    d = dynptr_load(env, ptr)
    offset, length = offset & 0xFFFFFFFF, length & 0xFFFFFFFF
    if not d.data or dynptr_check_off_len(d, offset, length) or d.rdonly or d.type not in (DYNPTR_LOCAL,
                                                                                          DYNPTR_RINGBUF):
        return 0
    return (d.data + d.offset + offset) & U64


def ringbuf_reserve_dynptr(env, map_ptr, size, flags, ptr, *_):
    m = _ringbuf(env, map_ptr)
    size &= 0xFFFFFFFF
    err = -errno.EINVAL if flags else -errno.E2BIG if size > DYNPTR_MAX_SIZE else 0
    if not err and not _ringbuf_room(env, m, size):
        err = -errno.ENOMEM
    record = 0 if err else env.record(f"ringbuf {m.name} record", size)
    if not record and not err:  # RECORD_SLOTS held: as a full ring
        err = -errno.ENOMEM
    dynptr_store(env, ptr, None if err else Dynptr(record, size, DYNPTR_RINGBUF, False, 0))
    return err & U64


def _ringbuf_finish_dynptr(keep: bool):
    finish = _ringbuf_finish(keep)

    def impl(env, ptr, flags, *_):
        d = dynptr_load(env, ptr)
        if d.data:
            finish(env, d.data, flags)
        dynptr_store(env, ptr, None)
        return None

    impl.__name__ = "ringbuf_submit_dynptr" if keep else "ringbuf_discard_dynptr"
    return impl


BPF_F_INDEX_MASK = 0xFFFFFFFF
BPF_F_CURRENT_CPU = BPF_F_INDEX_MASK
BPF_F_CTXLEN_MASK = 0xFFFFF << 32


def perf_event_output(env, _ctx, map_ptr, flags, data, size):
    """bpf_xdp_event_output: the record, plus the first ctxlen packet bytes from flags[32:52]."""
    m = env.map_arg(map_ptr)
    if m.type != MapType.PERF_EVENT_ARRAY:
        raise MemoryFault(f"map {m.name} is not a perf_event_array", map_ptr, f"map {m.name}")
    if flags & ~(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK):
        return neg(errno.EINVAL)
    ctx_len = (flags & BPF_F_CTXLEN_MASK) >> 32
    if ctx_len > env.xdp.length:
        return neg(errno.EFAULT)
    index = flags & BPF_F_INDEX_MASK
    if index == BPF_F_CURRENT_CPU:
        index = env.config.cpu
    if index >= m.perf_slots:
        return neg(errno.E2BIG)
    payload = env.mem.read(data, size) + env.xdp.packet[:ctx_len]
    env.state.events.append({"type": "perf", "map": m.name, "cpu": index, "data": payload.hex()})
    return 0


# -- fib_lookup (net/core/filter.c: bpf_xdp_fib_lookup) ------------------------------------

AF_INET, AF_INET6 = 2, 10
BPF_FIB_LKUP_RET_SUCCESS, BPF_FIB_LKUP_RET_NOT_FWDED, BPF_FIB_LKUP_RET_FRAG_NEEDED = 0, 4, 8
FIB_FLAGS = 0x3F  # DIRECT | OUTPUT | SKIP_NEIGH | TBID | SRC | MARK
FIB_PARAMS_SIZE = 64


def _mac(text: str) -> bytes:
    return bytes(int(part, 16) for part in text.split(":"))


FIB_RECORD = 64  # fib_records: bytes per route


def fib_records(routes) -> bytes:
    """The routes as the jit's fib_lookup scans them, longest prefix first (ties in the table's
    order, as fib_lookup picks): per route 64 bytes -- u8 family, u8 zero[7], the address mask
    and the masked prefix (16 bytes each, IPv4 in their first 4), u32 ifindex, u16 mtu, the
    source and destination MACs, zero padding."""
    if not routes:
        return b""
    import ipaddress  # only with routes: most replays have none

    nets = [(ipaddress.ip_network(route.prefix, strict=False), route) for route in routes]
    out = bytearray()
    for net, route in sorted(nets, key=lambda pair: -pair[0].prefixlen):
        family = AF_INET if net.version == 4 else AF_INET6
        record = bytes([family]) + bytes(7) + net.netmask.packed.ljust(16, b"\0")
        record += net.network_address.packed.ljust(16, b"\0") + route.ifindex.to_bytes(4, "little")
        record += (route.mtu & 0xFFFF).to_bytes(2, "little") + _mac(route.smac) + _mac(route.dmac)
        out += record.ljust(FIB_RECORD, b"\0")
    return bytes(out)


def fib_lookup(env, _ctx, params, plen, flags, *_):
    """Answered from `config.fib_table` (longest prefix); no route -> NOT_FWDED."""
    if (plen & 0xFFFFFFFF) < FIB_PARAMS_SIZE or flags & ~FIB_FLAGS:
        return neg(errno.EINVAL)
    import ipaddress

    raw = bytearray(env.mem.read(params, FIB_PARAMS_SIZE))
    family = raw[0]
    if family == AF_INET:
        dst = ipaddress.ip_address(bytes(raw[32:36]))
    elif family == AF_INET6:
        dst = ipaddress.ip_address(bytes(raw[32:48]))
    else:
        return neg(errno.EAFNOSUPPORT)
    best = None
    for route in env.config.fib_table:
        net = ipaddress.ip_network(route.prefix, strict=False)
        if net.version == dst.version and dst in net and (best is None or net.prefixlen > best[0].prefixlen):
            best = (net, route)
    if best is None:
        return BPF_FIB_LKUP_RET_NOT_FWDED
    route = best[1]
    tot_len = int.from_bytes(raw[6:8], "little")
    if tot_len > route.mtu:
        raw[6:8] = route.mtu.to_bytes(2, "little")
        env.mem.write(params, bytes(raw))
        return BPF_FIB_LKUP_RET_FRAG_NEEDED
    raw[8:12] = route.ifindex.to_bytes(4, "little")
    raw[52:58] = _mac(route.smac)
    raw[58:64] = _mac(route.dmac)
    env.mem.write(params, bytes(raw))
    return BPF_FIB_LKUP_RET_SUCCESS


# -- check_mtu (net/core/filter.c: bpf_xdp_check_mtu) ---------------------------------------

BPF_MTU_CHK_RET_SUCCESS, BPF_MTU_CHK_RET_FRAG_NEEDED = 0, 1  # enum bpf_check_mtu_ret


def mtu_records(config) -> list[int]:
    """config.device_mtus as the jit's check_mtu scans them: ifindex, MTU, ... (u64 words)."""
    return [word for pair in sorted(config.device_mtus.items()) for word in pair]


def device_mtu(env, ifindex: int) -> int | None:
    """__dev_via_ifindex: 0 is the receiving device; the MTU of the device, None for no device."""
    ingress = env.xdp.ctx.ingress_ifindex
    ifindex = ifindex or ingress
    mtu = env.config.device_mtus.get(ifindex)
    return env.config.mtu if mtu is None and ifindex == ingress else mtu


def check_mtu(env, _ctx, ifindex, mtu_len_ptr, len_diff, flags):
    """Whether the frame (or the L3 length *mtu_len, when not 0) changed by len_diff fits the
    device's MTU plus its Ethernet header (int arithmetic, as the kernel's); *mtu_len is then
    the MTU.  -EINVAL for any flag (no multi-buffer check for XDP), -ENODEV for no device, and
    *mtu_len left as it was on both (as the live 6.18 kernel answers)."""
    if flags:
        return neg(errno.EINVAL)
    mtu = device_mtu(env, ifindex & 0xFFFFFFFF)
    if mtu is None:
        return neg(errno.ENODEV)
    given = int.from_bytes(env.mem.read(mtu_len_ptr, 4), "little")
    length = s32(given + ETH_HLEN) if given else env.xdp.length
    fits = s32(length + s32(len_diff)) <= mtu + ETH_HLEN
    env.mem.write(mtu_len_ptr, mtu.to_bytes(4, "little"))
    return BPF_MTU_CHK_RET_SUCCESS if fits else BPF_MTU_CHK_RET_FRAG_NEEDED


# -- spin locks (kernel/bpf/helpers.c bpf_spin_lock, bpf_spin_unlock) --------------------
# A replay runs one program at a time, so a lock is always free; what is kept is which one
# the run holds, so that what the kernel's verifier refuses (process_spin_lock,
# check_resource_leak) stops the run with the verifier's words instead of deadlocking.
# The lock word itself is not written: a program cannot read it, nor the map's user.

SPIN_LOCK_REFUSED = "the kernel's verifier refuses this program"
LOCK_HELD_AT_EXIT = ("BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region "
                     f"({SPIN_LOCK_REFUSED})")
SPIN_LOCK_FAULTS = {
    # check_helper_call: any helper but bpf_spin_unlock while a lock is held (a second
    # bpf_spin_lock too); BPF-to-BPF calls are allowed
    "call": f"function calls are not allowed while holding a lock ({SPIN_LOCK_REFUSED})",
    "not_held": f"bpf_spin_unlock without taking a lock ({SPIN_LOCK_REFUSED})",
    "other": f"bpf_spin_unlock of different lock ({SPIN_LOCK_REFUSED})",
}
SPIN_LOCK_SIZE = 4  # sizeof(struct bpf_spin_lock)
SPIN_LOCK_ID, SPIN_UNLOCK_ID = HELPER_ID["spin_lock"], HELPER_ID["spin_unlock"]


def spin_lock(env, lock_ptr, *_):
    env.mem.read(lock_ptr, SPIN_LOCK_SIZE)  # a pointer the program may use, or a fault
    if env.state.lock is not None:
        raise MemoryFault(SPIN_LOCK_FAULTS["call"])
    env.state.lock = lock_ptr
    return 0


def spin_unlock(env, lock_ptr, *_):
    env.mem.read(lock_ptr, SPIN_LOCK_SIZE)
    held = env.state.lock
    if held != lock_ptr:
        raise MemoryFault(SPIN_LOCK_FAULTS["not_held" if held is None else "other"])
    env.state.lock = None
    return 0


# -- strtol, strtoul (kernel/bpf/helpers.c __bpf_strtoull, lib/kstrtox.c) ------------------

BPF_STRTOX_BASE_MASK = 0x1F
STRTOX_BASES = frozenset({0, 8, 10, 16})
STRTOX_MAX_DIGITS = 63  # __bpf_strtoull copies at most sizeof(char[64]) - 1 bytes to parse
KERNEL_SPACE = frozenset(b" \t\n\v\f\r\xa0")  # isspace() of lib/ctype.c (Latin-1: 0xa0 too)
_DIGIT = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}
U64_MAX = U64


def strtoull(buf: bytes, flags: int) -> tuple[int, int, bool] | int:
    """__bpf_strtoull: (bytes consumed, value, negative?) or a negative errno.  Leading
    isspace() bytes, then one optional '-' (no '+'), then digits of the base in `flags`
    (0: "0x" hex, "0" octal, else decimal, as _parse_integer_fixup_radix); a value past
    64 bits is -ERANGE, no digit -EINVAL."""
    base = flags & BPF_STRTOX_BASE_MASK
    if not buf or base not in STRTOX_BASES or flags & ~BPF_STRTOX_BASE_MASK:
        return -errno.EINVAL
    at = 0
    while at < len(buf) and buf[at] in KERNEL_SPACE:
        at += 1
    negative = at < len(buf) and buf[at] == ord("-")
    at += negative
    if at == len(buf):
        return -errno.EINVAL
    text = buf[at:at + STRTOX_MAX_DIGITS] + b"\0\0"  # NUL-terminated as the kernel's copy
    hex_prefix = text[0] == ord("0") and text[1] | 0x20 == ord("x")
    if base == 0:
        base = (16 if hex_prefix and text[2] in _DIGIT else 8) if text[0] == ord("0") else 10
    start = 2 if base == 16 and hex_prefix else 0
    value, end, overflow = 0, start, False
    while (digit := _DIGIT.get(text[end], base)) < base:  # the NUL ends it
        overflow |= value >> 60 != 0 and value > (U64_MAX - digit) // base
        value = (value * base + digit) & U64_MAX
        end += 1
    if overflow:
        return -errno.ERANGE
    if end == start:
        return -errno.EINVAL
    return at + end, value, negative


def _strtox(signed: bool):
    """bpf_strtol / bpf_strtoul: *res = 0 first, then the value; r0 = bytes consumed or -errno."""

    def helper(env, buf_ptr, buf_len, flags, res_ptr, *_):
        env.mem.write(res_ptr, bytes(8))
        parsed = strtoull(env.mem.read(buf_ptr, buf_len), flags)
        if isinstance(parsed, int):
            return parsed & U64
        consumed, value, negative = parsed
        if signed:
            result = -value if negative else value
            if not -(1 << 63) <= result < 1 << 63:
                return neg(errno.ERANGE)
        elif negative:
            return neg(errno.EINVAL)
        else:
            result = value
        env.mem.write(res_ptr, (result & U64).to_bytes(8, "little"))
        return consumed
    return helper


# -- timers (kernel/bpf/helpers.c bpf_timer_init/set_callback/start/cancel, __bpf_async_init) --------
# A timer is the struct bpf_timer in a map value; the kernel keeps a pointer to its hrtimer in
# it, which user space never sees (a map read shows zeros there).  The engines keep the timer's
# state beside the map instead (`Timers`), by the value's region (a map value holds at most one
# bpf_timer), for the engine's lifetime.  No clock advances between packets in a replay, so an
# armed timer never fires: its callback never runs (`Timers.armed` counts the starts, for the
# replay's warning).  Not modelled: -EPERM (the map has no user reference: a replay's maps
# always have one), -EDEADLK (a cancel from the timer's own callback, which never runs), and
# the timer freed with its element by a hash map's delete or update (the state stays).

MAX_CLOCKS = 16
TIMER_CLOCKS = frozenset({0, 1, 7})  # CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME
BPF_F_TIMER_ABS, BPF_F_TIMER_CPU_PIN = 1, 2
TIMER_SIZE = 16  # sizeof(struct bpf_timer)
TIMERS_NEVER_FIRE = ("the program armed a bpf_timer: timers never fire during a replay (no clock advances "
                     "between packets), so its callback did not run")
TIMER_WORDS = 2  # per region id: the state (TIMER_INIT | TIMER_ARMED), the callback (0: none)
TIMER_INIT, TIMER_ARMED = 1, 2


class Timers:
    """The timers' state as 64-bit words the jit reads and writes too: TIMER_WORDS per region
    id of the map value a timer is in; region id 0 (never a region) holds the count of
    successful bpf_timer_start calls."""

    def __init__(self, regions: int = 1024):
        self.words = array("Q", bytes(8 * TIMER_WORDS * regions))

    @property
    def capacity(self) -> int:
        return len(self.words) // TIMER_WORDS

    @property
    def armed(self) -> int:
        return self.words[0]

    def state(self, timer_ptr: int) -> tuple[int, int]:
        """(state, callback) of the timer at this address (zeros: never initialised)."""
        rid = timer_ptr >> 32
        if rid >= self.capacity:
            return 0, 0
        return self.words[TIMER_WORDS * rid], self.words[TIMER_WORDS * rid + 1]

    def set(self, timer_ptr: int, state: int, callback: int) -> None:
        rid = timer_ptr >> 32
        if rid >= self.capacity:  # (the jit takes the new address after every Python helper)
            self.words.extend(bytes(8 * TIMER_WORDS * (max(rid + 1, 2 * self.capacity) - self.capacity)))
        self.words[TIMER_WORDS * rid], self.words[TIMER_WORDS * rid + 1] = state, callback


def _timer(env, timer_ptr) -> tuple[int, int]:
    env.mem.read(timer_ptr, TIMER_SIZE)  # a pointer the program may use, or a fault
    return env.timers.state(timer_ptr)


def timer_init(env, timer_ptr, map_ptr, flags, *_):
    env.map_arg(map_ptr)
    if flags >= MAX_CLOCKS or flags & (MAX_CLOCKS - 1) not in TIMER_CLOCKS:
        return neg(errno.EINVAL)
    if _timer(env, timer_ptr)[0] & TIMER_INIT:
        return neg(errno.EBUSY)
    env.timers.set(timer_ptr, TIMER_INIT, 0)
    return 0


def timer_set_callback(env, timer_ptr, callback, *_):
    state, _ = _timer(env, timer_ptr)
    if not state & TIMER_INIT:
        return neg(errno.EINVAL)
    env.timers.set(timer_ptr, state, callback)
    return 0


def timer_start(env, timer_ptr, nsecs, flags, *_):
    if flags & ~(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN):
        return neg(errno.EINVAL)
    state, callback = _timer(env, timer_ptr)
    if not state & TIMER_INIT or not callback:
        return neg(errno.EINVAL)
    env.timers.set(timer_ptr, state | TIMER_ARMED, callback)
    env.timers.words[0] += 1
    return 0


def timer_cancel(env, timer_ptr, *_):
    """hrtimer_cancel's answer: 1 when the timer was armed (and is no longer), else 0; the
    callback is dropped too (drop_prog_refcnt): a start needs bpf_timer_set_callback again."""
    state, _ = _timer(env, timer_ptr)
    if not state & TIMER_INIT:
        return neg(errno.EINVAL)
    env.timers.set(timer_ptr, TIMER_INIT, 0)
    return int(bool(state & TIMER_ARMED))


# -- the table ------------------------------------------------------------------------------

# Implementations by helper name (ids and names: platform/helpers.py).
_IMPLS: dict[str, Callable] = {
    "map_lookup_elem": map_lookup_elem,
    "map_update_elem": map_update_elem,
    "map_delete_elem": map_delete_elem,
    "ktime_get_ns": ktime_get_ns,
    "trace_printk": trace_printk,
    "trace_vprintk": trace_vprintk,
    "get_prandom_u32": get_prandom_u32,
    "get_smp_processor_id": get_smp_processor_id,
    "tail_call": tail_call,
    "redirect": redirect,
    "perf_event_output": perf_event_output,
    "csum_diff": csum_diff,
    "xdp_adjust_head": _adjust("adjust_head"),
    "redirect_map": redirect_map,
    "xdp_adjust_meta": _adjust("adjust_meta"),
    "xdp_adjust_tail": _adjust("adjust_tail"),
    "fib_lookup": fib_lookup,
    "check_mtu": check_mtu,
    "map_push_elem": map_push_elem,
    "map_pop_elem": map_pop_elem,
    "map_peek_elem": map_peek_elem,
    "jiffies64": jiffies64,
    "ktime_get_boot_ns": ktime_get_ns,  # the same deterministic clock
    "ktime_get_coarse_ns": ktime_get_ns,
    "ktime_get_tai_ns": ktime_get_ns,
    "get_numa_node_id": get_numa_node_id,
    "map_lookup_percpu_elem": map_lookup_percpu_elem,
    "ringbuf_output": ringbuf_output,
    "ringbuf_reserve": ringbuf_reserve,
    "ringbuf_submit": _ringbuf_finish(True),
    "ringbuf_discard": _ringbuf_finish(False),
    "for_each_map_elem": for_each_map_elem,
    "loop": loop,
    "xdp_get_buff_len": xdp_get_buff_len,
    "xdp_load_bytes": xdp_load_bytes,
    "xdp_store_bytes": xdp_store_bytes,
    "spin_lock": spin_lock,
    "spin_unlock": spin_unlock,
    "strtol": _strtox(signed=True),
    "strtoul": _strtox(signed=False),
    "dynptr_from_mem": dynptr_from_mem,
    "dynptr_read": dynptr_read,
    "dynptr_write": dynptr_write,
    "dynptr_data": dynptr_data,
    "ringbuf_reserve_dynptr": ringbuf_reserve_dynptr,
    "ringbuf_submit_dynptr": _ringbuf_finish_dynptr(True),
    "ringbuf_discard_dynptr": _ringbuf_finish_dynptr(False),
    "timer_init": timer_init,
    "timer_set_callback": timer_set_callback,
    "timer_start": timer_start,
    "timer_cancel": timer_cancel,
}

HELPERS: dict[int, HelperSpec] = {
    HELPER_ID[name]: HelperSpec(HELPER_ID[name], f"bpf_{name}", impl) for name, impl in _IMPLS.items()
}


def helper_label(helper_id: int) -> str:
    if not known_helper(helper_id):
        return f"unknown helper #{helper_id}"
    return f"{helper_name(helper_id)}#{helper_id}"


# Helpers an XDP program may call that the engines do not run: what running them would need.
_SOCKETS = ("the host's sockets, which the runtime does not model (a replay would need a list of the "
            "listening and established sockets to answer from; not designed yet)")
_SYNCOOKIES = _SOCKETS[:-1] + ", and the kernel's SYN cookie secret)"
MISSING_MODELS = {HELPER_ID[name]: needs for name, needs in {
    **dict.fromkeys(("sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp", "sk_release"), _SOCKETS),
    **dict.fromkeys(("tcp_check_syncookie", "tcp_gen_syncookie"), _SYNCOOKIES),
    "user_ringbuf_drain": ("records user space writes into a BPF_MAP_TYPE_USER_RINGBUF, which a replay has "
                           "no way to give yet"),
}.items()}


def resolve_helper(helper_id: int) -> HelperSpec:
    """The spec for a helper a program calls, or XdpError naming what is missing."""
    spec = HELPERS.get(helper_id)
    if spec is not None:
        return spec
    if not known_helper(helper_id):
        raise XdpError(f"program calls unknown helper #{helper_id}")
    needs = MISSING_MODELS.get(helper_id)
    raise XdpError(f"program calls {helper_label(helper_id)}, which the runtime does not implement"
                   + (f": it needs {needs}" if needs else ""))
