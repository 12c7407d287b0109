"""The run environment shared by native code and Python: one table of fields.

The generated code reaches every piece of run state through one pointer, the
env: initial registers, the instruction budget, the fault report, the region
table that translates tagged addresses, the context field values, the batch
buffers.  The layout is declared once (`FIELDS`) and drives both the ctypes
structure Python fills and the GEPs the IR emits, so the two cannot disagree.
Every field is a 64-bit word (pointers included) or an array of them.
"""

from __future__ import annotations

import ctypes
import enum

import llvmlite.ir as ir

from ...platform.ctx import XDP_MD
from .irtypes import I64


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
    ("lpm_indexes", 1),  # pointer to one word per map index: an lpm_trie's prefix index (maps.py _lpm_lookup)
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


class _Layout:
    def __init__(self, fields):
        self.offsets: dict[str, tuple[int, int]] = {}
        word = 0
        for name, count in fields:
            self.offsets[name] = (word, count)
            word += count
        self.words = word
        self.struct = type("Env", (ctypes.Structure,), {
            "_fields_": [(name, ctypes.c_uint64 * count if count > 1 else ctypes.c_uint64)
                         for name, count in fields],
        })

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
