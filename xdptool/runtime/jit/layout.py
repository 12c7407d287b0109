"""What native code and Python agree on, without LLVM: the env's words, the region
table, map shapes, the callback's C type and the JIT's shared constants.

A warm start (the compile cache has the program) runs the engine without
building IR, so it must not import llvmlite.ir (~6 ms) or the code generator:
the engine imports its facts from here, and the IR modules (env.py, maps.py,
batch.py, memory.py, helpers.py, irtypes.py) import the same names from here,
so each fact is written once.
"""


import ctypes
import enum
from typing import NamedTuple

from ...elf.model import MapType
from ...platform.ctx import XDP_MD
from ..maps_array import ArrayMap, SparseArrayMap
from ..maps_bloom import BloomFilterMap
from ..maps_hash import HEADER, SLOT_HEADER, HashMap
from ..maps_misc import EventMap, LpmTrieMap, QueueStackMap
from ..maps_of_maps import MapsOfMaps

M64 = (1 << 64) - 1
UNCHANGED = M64  # out_offsets value: the output packet is the input packet (batch.py)
ACCESS_HELPER = 2  # fault_write bit: the access was a helper's read/write of memory (memory.py)


class FaultKind(enum.IntEnum):
    """Why native code stopped a packet (0: it did not)."""

    NONE = 0
    MEMORY = 1  # a checked access failed: fault_addr/size/write say which
    INSN_LIMIT = 2  # config.max_insns exceeded
    MESSAGE = 3  # a fixed message (fault_addr = its index in the program's message list)
    HELPER = 4  # a Python helper faulted; the engine holds the Fault


# (name, number of 64-bit words)
FIELDS: tuple[tuple[str, int], ...] = (
    ("init_regs", 11),
    ("insn_limit", 1),
    ("may_goto_budget", 1),  # config.may_goto_budget: each frame's may_goto budget at its start
    ("insns", 1),  # out: instructions executed
    ("fault_kind", 1),  # out
    ("fault_pc", 1),  # out
    ("fault_addr", 1),  # out
    ("fault_size", 1),  # out
    ("fault_write", 1),  # out: 1 if the faulting access was a write
    ("fault_prog", 1),  # out: the unit (program) the fault is in (translate.Unit.index)
    ("regions", 1),  # pointer to the region table (REGION_WORDS words per region id)
    ("region_count", 1),  # capacity of the region table (ids beyond the live ones are empty)
    ("next_region_id", 1),  # the id the next new region gets (the shadow's AddressSpace._next_id)
    ("ctx_id", 1),  # region id of the xdp_md context
    ("ctx_values", len(XDP_MD)),  # one word per xdp_md field; the scalar fields are read from here
    ("stack_ids", 8),  # region id of each call frame's stack
    ("helper_cb", 1),  # pointer to the Python helper callback
    ("clock_start", 1),  # ktime = clock_start + clock_reads * clock_step (helpers.Services)
    ("clock_step", 1),
    ("clock_reads", 1),
    ("prandom_state", 1),  # splitmix64 state (Services.rng)
    ("cpu", 1),  # config.cpu
    ("numa_node", 1),  # config.numa_node
    ("jiffies", 1),  # config.jiffies
    ("map_table", 1),  # pointer to per-map descriptors (see maps.py)
    ("imm_table", 1),  # pointer to the resolved values of relocated ld_imm64 (by slot)
    # batch driver
    ("in_buf", 1),
    ("in_size", 1),
    ("in_offsets", 1),
    ("in_lengths", 1),
    ("out_buf", 1),
    ("out_capacity", 1),
    ("out_used", 1),
    ("out_offsets", 1),
    ("out_lengths", 1),
    ("retvals", 1),
    ("fault_kinds", 1),
    ("insn_counts", 1),
    ("frame", 1),  # host pointer to the packet frame buffer (headroom + data + tailroom)
    ("frame_capacity", 1),  # bytes allocated at `frame`
    ("pkt_id", 1),  # region id of the packet frame
    ("pkt_base", 1),  # address of frame[0] in the tagged address space
    ("pkt_meta", 1),  # data_meta, data, data_end, hard end: offsets into the frame
    ("pkt_data", 1),
    ("pkt_end", 1),
    ("pkt_hard_end", 1),
    ("cb_r0", 1),  # r0 before a Python helper call (a helper may leave it unchanged)
    ("cb_depth", 1),  # call depth at a Python helper call (callbacks run one frame deeper)
    ("cb_total", 1),  # instructions Python helpers ran so far in this run
    ("cb_insns", 1),
    ("cb_prog", 1),  # the unit (program) a Python helper is called from  # instructions the interpreter ran inside a Python helper (callbacks)
    ("stop", 1),  # set by a callback to end the batch early (a Python exception)
    ("cb_used", 1),  # set by every Python helper call: the packet needs Python's attention
    ("ctx_base", 1),  # address of the xdp_md context (r1 at entry)
    ("headroom", 1),  # config.headroom
    ("min_frame_size", 1),  # config.frame_size (a bigger packet gets a bigger frame)
    ("dirty_lo", 1),  # frame bytes [dirty_lo, dirty_hi) may be non-zero
    ("dirty_hi", 1),
    ("func_id", 1),  # region id of function pointers (callbacks: VmEngine.func_region)
    # the run's redirect (RunState.redirect, natively): RedirectKind, map index, key, target, flags
    ("redir_kind", 1),
    ("redir_map", 1),
    ("redir_key", 1),
    ("redir_target", 1),
    ("redir_flags", 1),
    # the batch's redirect log: REDIRECT_WORDS words per redirected packet (index, then the above)
    ("redir_log", 1),
    ("redir_capacity", 1),  # records
    ("redir_used", 1),
    ("spin_lock", 1),  # the address of the bpf_spin_lock the run holds, 0 when none (natives.py)
    # the native event log (events.py): ringbuf_output and perf_event_output records
    ("ev_log", 1),  # host pointer to the log's words
    ("ev_capacity", 1),  # words
    ("ev_used", 1),
    ("ev_index", 1),  # the packet the records are for (the batch's index; 0 for one run)
    ("ev_run", 1),  # the run's number: a ring buffer's bytes used count from 0 in each run
    ("ev_maps", 1),  # host pointer to EV_MAP_WORDS words per map index (run number, bytes used)
    ("timers", 1),  # host pointer to the shadow's helpers.Timers words (timers.py)
    ("timer_capacity", 1),  # region ids they cover
    ("each_key_base", 1),  # region id of bpf_for_each_map_elem's depth-0 key (VmEngine.for_each_keys; foreach.py)
    ("fib_routes", 1),  # host pointer to helpers.fib_records(config.fib_table) (fib.py)
    ("fib_count", 1),  # routes there
    ("mtu_devices", 1),  # host pointer to helpers.mtu_records(config): (ifindex, MTU) words (mtu.py)
    ("mtu_device_count", 1),  # pairs there
    ("mtu_ingress", 1),  # config.mtu: the receiving device's unless listed
    # ring buffer records made natively (records.py): region ids rec_base + slot
    ("rec_base", 1),
    ("rec_bits", 1),  # the slots held in this run
    ("rec_meta", 1),  # host pointer to RECORD_META_WORDS words per slot: host address, size, map index
    ("rec_arena", 1),  # host pointer to the bytes records get, bump-allocated per run
    ("rec_arena_cap", 1),
    ("rec_arena_used", 1),
    ("rec_native", 1),  # set once native code made a record: the shadow adopts them (engine.py)
    # set (non-zero) when the packet's bytes may have been written this run: a store into the packet
    # region (memory.py) or a helper that can reach the packet (translate.py); the packet loop
    # compares an unmoved packet with its input only then (batch.py)
    ("pkt_written", 1),
)

class RedirectKind(enum.IntEnum):
    """What env.redir_kind says about the run's redirect target."""

    NONE = 0
    IFINDEX = 1  # bpf_redirect: redir_target
    MAP = 2  # bpf_redirect_map hit: redir_map, redir_key, redir_target
    BROADCAST = 3  # bpf_redirect_map with BPF_F_BROADCAST: redir_map, redir_flags
    PYTHON = 4  # set by a Python helper: the shadow's RunState.redirect


REDIRECT_FIELDS = ("redir_kind", "redir_map", "redir_key", "redir_target", "redir_flags")
REDIRECT_WORDS = 1 + len(REDIRECT_FIELDS)

# Region table entry: host address of buf[0], lo, hi, writable (1) / read-only (0).
REGION_WORDS = 4
R_HOST, R_LO, R_HI, R_WRITABLE = range(REGION_WORDS)


class WordLayout:
    """Named 64-bit words at fixed offsets: the ctypes structure Python fills (`struct`,
    one class per field list) and the word offsets the IR addresses (env.py)."""

    def __init__(self, fields):
        self.fields = tuple(fields)
        self.offsets: dict[str, tuple[int, int]] = {}
        word = 0
        for name, count in self.fields:
            self.offsets[name] = (word, count)
            word += count
        self.words = word

    @property
    def struct(self) -> type:
        made = _STRUCTS.get(self.fields)
        if made is None:
            made = _STRUCTS[self.fields] = type("Env", (ctypes.Structure,), {
                "_fields_": [(name, ctypes.c_uint64 * count if count > 1 else ctypes.c_uint64)
                             for name, count in self.fields],
            })
        return made


_STRUCTS: dict[tuple, type] = {}
ENV_LAYOUT = WordLayout(FIELDS)

# uint64 callback(env, helper id, pc, r1..r5): Python helpers called from native code (helpers.py)
CALLBACK_ARGS = (ctypes.c_uint64,) * 8
CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, *CALLBACK_ARGS)

MAP_WORDS = 2  # per map in env.map_table: host address of buffer, host address of its id table (nfp/native.py too)
GROW_REGIONS = (1 << 32) + 1  # pseudo helper id: the callback grows the region table
QUEUE_TYPES = {MapType.QUEUE, MapType.STACK}
HASH_TYPES = {MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH, MapType.DEVMAP_HASH,
              MapType.HASH_OF_MAPS}  # (maps_hash.HashMap storage)
MAX_NATIVE_KEY = 256


class MapShape(NamedTuple):
    """What the generated code assumes about one map (part of the compile cache key, by its
    repr).  A NamedTuple, not a frozen dataclass: defined in 0.3 ms instead of 1.1-1.7 at
    every start."""

    index: int  # position in the MapStore (env.map_table row)
    name: str
    type: MapType
    handle_id: int  # region id of the map's handle (r1 of map helpers)
    key_size: int
    value_size: int
    value_stride: int
    entries: int  # array: max_entries; hash: capacity (slots)
    ncpus: int
    cpu: int  # the CPU copy a program sees
    slot_size: int = 0
    key_stride: int = 0
    lru: bool = False
    readonly: bool = False
    max_entries: int = 0
    present_offset: int = -1  # sparse arrays: where the presence bytes start (-1: not sparse)
    events: bool = False  # a ringbuf or perf_event_array: no values, output appended (events.py)
    lpm: bool = False  # an lpm_trie: its index in its buffer (maps_misc.lpm_layout; lpm.py)
    hash_funcs: int = 0  # a bloom filter: its hash functions (BloomFilterMap; bloom.py)
    bloom_mask: int = 0  # a bloom filter: the bit array's mask
    frozen: bytes = b""  # read-only global data (.rodata): its bytes, where printk.py finds formats
    inner_handles: tuple[int, ...] = ()  # a map of maps: the handle region id of each store map, by index

    @property
    def outer(self) -> bool:
        """A map of maps: a lookup answers the inner map's handle (_outer_lookup)."""
        return bool(self.inner_handles)

    @property
    def has_values(self) -> bool:
        """Whether lookups give value pointers (not a queue, stack, ringbuf, perf_event_array,
        bloom filter)."""
        return not self.events and self.type not in QUEUE_TYPES and not self.hash_funcs and not self.outer

    @property
    def sparse(self) -> bool:
        return self.present_offset >= 0

    @property
    def is_hash(self) -> bool:
        return self.type in HASH_TYPES

    @property
    def positions(self) -> int:
        """Number of value positions (size of the id table)."""
        return self.entries * self.ncpus

    def offset_of_position(self, position: int) -> int:
        if self.is_hash:
            slot, cpu = divmod(position, self.ncpus)
            return HEADER + slot * self.slot_size + SLOT_HEADER + self.key_stride + cpu * self.value_stride
        return position * self.value_stride


def map_shapes(maps, handle_ids: dict[str, int], cpu: int, all_kinds: bool = False) -> tuple[MapShape, ...]:
    """Shapes of the maps native code handles (the others go through Python): the array and
    hash kinds, and with `all_kinds` (the jit engine's natives) lpm_trie, queue, stack, ringbuf,
    perf_event_array, bloom filters and maps of maps too."""
    shapes = []
    for index, m in enumerate(maps.by_index):
        if not all_kinds and isinstance(m, (LpmTrieMap, QueueStackMap, EventMap, BloomFilterMap, MapsOfMaps)):
            continue
        inner_handles = tuple(handle_ids[inner.name] for inner in maps.by_index) if isinstance(m, MapsOfMaps) \
            else ()
        if isinstance(m, BloomFilterMap):
            shapes.append(MapShape(index, m.name, m.type, handle_ids[m.name], 0, m.value_size, m.value_stride, 0, 1,
                                   0, hash_funcs=m.nr_hash_funcs, bloom_mask=m.bitset_mask))
        if isinstance(m, LpmTrieMap):
            shapes.append(MapShape(index, m.name, m.type, handle_ids[m.name], m.key_size, m.value_size,
                                   m.value_stride, m.max_entries, 1, 0, readonly=m.readonly_for_program,
                                   max_entries=m.max_entries, lpm=True))
        elif isinstance(m, QueueStackMap):
            shapes.append(MapShape(index, m.name, m.type, handle_ids[m.name], 0, m.value_size, m.value_stride,
                                   m.max_entries, 1, 0, max_entries=m.max_entries))
        elif isinstance(m, EventMap):
            size = m.ring_size if m.type == MapType.RINGBUF else m.perf_slots
            shapes.append(MapShape(index, m.name, m.type, handle_ids[m.name], 0, 0, 0, size, 1, 0, events=True))
        elif isinstance(m, HashMap):
            if m.key_size > MAX_NATIVE_KEY:
                continue
            shapes.append(MapShape(index, m.name, m.type, handle_ids[m.name], m.key_size, m.value_size,
                                   m.value_stride, m.capacity, m.ncpus, cpu if m.ncpus > 1 else 0,
                                   m.slot_size, m.key_stride, m.lru, m.readonly_for_program, m.max_entries,
                                   inner_handles=inner_handles))
        elif isinstance(m, ArrayMap) and m.key_size == 4:
            present = m.layout["present_offset"] if isinstance(m, SparseArrayMap) else -1
            at = m.find_offset(bytes(4)) if m.readonly_for_program and m.type == MapType.ARRAY \
                and m.max_entries == 1 and m.ncpus == 1 else None
            shapes.append(MapShape(index, m.name, m.type, handle_ids[m.name], m.key_size, m.value_size,
                                   m.value_stride, m.max_entries, m.ncpus, cpu if m.ncpus > 1 else 0,
                                   readonly=m.readonly_for_program, max_entries=m.max_entries,
                                   present_offset=present, inner_handles=inner_handles,
                                   frozen=m.read_value(at) if at is not None else b""))
    return tuple(shapes)
