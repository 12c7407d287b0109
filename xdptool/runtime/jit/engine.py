"""`JitEngine`: the program as native code, with the interpreter's semantics.

The engine keeps a *shadow* `VmEngine` built from the same program, maps and
config.  Native code never consults it on the hot path, but it is what makes
results identical by construction rather than by imitation:
- its address space decides every region id (ctx, packet, stack frames, map
  handles, global data, map values in first-use order, helper scratch), and the
  native region table mirrors it, so pointer values are the interpreter's;
- helpers without a native version run as the interpreter's own Python
  implementation with the shadow as their `HelperEnv`, the packet state and
  region table synchronised around the call;
- faults are worded by the interpreter's own code (`AddressSpace.resolve`).
"""

from __future__ import annotations

import ctypes
import sys
import time
from array import array
from collections import Counter
from typing import Sequence

from ...ebpf.insn import Instruction
from ...elf.model import Program
from ...errors import XdpError
from ...pools import ArrayPool
from ...platform.ctx import FIELD_SIZE, XDP_MD
from ...platform.helper_ids import HELPER_ID, helper_name, known_helper
from ..config import MAX_CALL_FRAMES, SKB_SHARED_INFO_TAILROOM, RuntimeConfig
from ..contract import Fault, PackedEngine, RunResult, XdpContext
from ..helpers import FIB_RECORD, RECORD_SLOTS, XDP_REDIRECT, fib_records, mtu_records
from ..kfuncs import SPECS as KFUNC_SPECS
from ..maps import MapStore
from ..memory import MemoryFault, Region
from ..vm import CONFORMANCE_HELPERS, VmEngine, VmFault, _Compiled, _TailCall
from .compiler import compile_program
from .layout import (ACCESS_HELPER, CALLBACK_TYPE, ENV_LAYOUT, GROW_REGIONS, M64, REDIRECT_FIELDS, REDIRECT_WORDS,
                     FaultKind, MapShape, RedirectKind, map_shapes)
from .mirror import RegionMirror
from .packed import (EV_MAP_WORDS, GROW_ARENA, GROW_EVENTS, HEADER_WORDS, PRINTK_MAP, TEXT_RECORD, OUT_RESERVE_MAX, RECORD_META_WORDS, OUT_SLACK, MapRef, OutputArea, PackedResults,
                     RedirectTargets, address_of, as_array, decode_events, printk_lines, readable_address)
from .units import Unit, needs_budget_checks

# (ctx_values index, XdpContext attribute) of each scalar xdp_md field
SCALAR_SLOTS = tuple((f.offset // FIELD_SIZE, f.name) for f in XDP_MD if not f.is_pointer)

M32 = 0xFFFFFFFF
_RUN_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)
_BATCH_TYPE = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)


_NATIVE_FRAME = (-1, None, 0, 0, 0, 0, 0)  # a native call frame, as the shadow's frame stack sees it
TAIL_CALL = 12  # bpf_tail_call
# Programs larger than this run on the interpreter (one line on stderr says so): LLVM's
# memory and time grow faster than the program, and a million-instruction program
# (which the kernel accepts) would need gigabytes to compile.
MAX_JIT_SLOTS = 50_000  # measured: 20k slots compile in 4.9 s and 320 MB RSS, 100k in 29 s and 1.2 GB
RESULT_CODES = ("I", "B", "Q", "Q", "I")  # retvals, fault kinds, insn counts, out offsets, out lengths (the env's arrays)
POOLED_PACKETS = 1 << 17  # larger result sets are not kept (25 bytes a packet)
RESULT_POOL = 3  # result array sets kept for reuse: a replay holds one piece's while the next runs
REDIRECT_LOG = 4096  # records in the batch's redirect log (the batch stops when it is full)
EVENT_LOG = 1 << 16  # words of the native event log at first (events.py; the batch stops when half full)
RECORD_ARENA = 1 << 16  # bytes for a run's ring buffer records at first (records.py; grown when one run needs more)


def program_units(shadow: VmEngine, program: Program) -> tuple[list[Unit], list, dict[int, int] | None]:
    """The units a program's module holds: the program, and when it makes tail calls every
    program of its object (a prog_array slot may name any); with the interpreter's
    compiled form of each (fault lines) and {program index: unit} for tail calls."""
    main = shadow.main
    if not any(insn.is_helper_call and insn.imm == TAIL_CALL for insn in program.insns):
        return [Unit(0, program.name, program.insns)], [main], None
    units, comps, targets = [Unit(0, program.name, program.insns)], [main], {}
    for index, other in enumerate(shadow._programs):
        if other is program:
            targets[index] = 0
            continue
        comp = shadow._compiled.get(other.name)
        if comp is None:
            try:
                comp = shadow._compile(other.name, other.insns)
            except XdpError as exc:
                comp = _Compiled(other.name, [])
                comp.error = str(exc)
        targets[index] = len(units)
        units.append(Unit(len(units), other.name, other.insns if comp.error is None else [], comp.error))
        comps.append(comp)
    return units, comps, targets


def zeroed_words(count: int) -> array:
    """`count` zeroed u64 words, written once (array("Q", bytes(8 * count)) fills a zeroed copy)."""
    return array("Q", [0]) * count


def compiled_for(program: Program, shadow: VmEngine, shapes: tuple[MapShape, ...]):
    """(native code, units, their interpreter forms) for `program`, compiled once per map
    shapes and budget checking and cached on the program."""
    units, comps, targets = program_units(shadow, program)
    checked = needs_budget_checks([u.insns for u in units], shadow.config.max_insns)
    cache = program.__dict__.setdefault("_jit_cache", {})
    compiled = cache.get((shapes, checked))
    if compiled is None:
        # proofs (proofs.py) only for a program whose runs are bounded (no cycle, no callback):
        # its verification is one pruned pass over its paths, not a loop's iterations
        compiled = cache[(shapes, checked)] = compile_program(
            units, shapes, tail_targets=targets, name=program.name, checked=checked,
            program=None if checked else program)
    return compiled, units, comps


def _shapes(shadow: VmEngine) -> tuple[MapShape, ...]:
    handles = {name: region.id for name, region in shadow._map_regions.items()}
    return map_shapes(shadow.maps, handles, shadow.config.cpu, all_kinds=True)


def too_large(program: Program) -> bool:
    """Whether the program runs on the interpreter instead (MAX_JIT_SLOTS)."""
    programs = program.object.programs if program.object is not None else []
    unique = {id(p): p for p in [program, *programs]}.values()
    return sum(insn.slots for p in unique for insn in p.insns) > MAX_JIT_SLOTS


PRINTING_HELPERS = frozenset({HELPER_ID["trace_printk"], HELPER_ID["trace_vprintk"]})  # their lines: trace_printk


class JitEngine(PackedEngine):
    """See the module docstring; `interpreted` is True when runs fall back to the VM."""

    name = "jit"

    def __init__(self, program: Program | None, maps: MapStore | None = None,
                 config: RuntimeConfig | None = None, *, _raw: tuple[list[Instruction], dict] | None = None):
        started = time.perf_counter()
        self.fallbacks: Counter[int] = Counter()  # helper id -> calls that went through Python
        self.compile_seconds: float | None = None  # making this engine: translate + LLVM, or the cache
        if _raw is None:
            # The shadow refuses what the interpreter refuses (unknown helpers, kfuncs, ...).
            self.shadow = VmEngine(program, maps, config)
            self._init_common(program)
            self.interpreted = too_large(program)
            if self.interpreted:
                print(f"xdptool: note: {program.name} has more than {MAX_JIT_SLOTS} instructions "
                      "(with its object's programs); the jit runs it on the vm engine", file=sys.stderr)
                return
            shapes = _shapes(self.shadow)
            self.native, self.units, self.comps = compiled_for(program, self.shadow, shapes)
            self.comp = self.shadow.main
        else:
            insns, helpers = _raw
            self.shadow = VmEngine(None, maps, config, helpers=helpers)
            self._init_common(program)
            self.interpreted = False
            self.comp = self.shadow._compile("raw", insns)
            shapes = _shapes(self.shadow)
            self.units, self.comps = [Unit(0, "raw", insns)], [self.comp]
            self.native = compile_program(self.units, shapes,
                                          checked=needs_budget_checks(insns, self.shadow.config.max_insns))
        self.env = ENV_LAYOUT.struct()
        self._env_addr = ctypes.addressof(self.env)
        self._callback = CALLBACK_TYPE(self._helper_callback)
        self._run_fn = _RUN_TYPE(self.native.run_address)
        self._batch_fn = _BATCH_TYPE(self.native.batch_address)
        self._pending_fault: Fault | None = None
        self._error: BaseException | None = None
        self._placed = False  # a packet loop that runs packets in place is running (_packet_into_frame)
        self._imm = (ctypes.c_uint64 * max(1, len(self.native.imm_slots)))()
        by_pc = [{insn.pc: insn for insn in unit.insns} for unit in self.units]
        for (unit, pc), slot in self.native.imm_slots.items():
            self._imm[slot] = self.shadow._imm64(by_pc[unit][pc]) & M64
        self._redirect_log = zeroed_words(REDIRECT_WORDS * REDIRECT_LOG)
        self._map_refs = tuple(MapRef(m.name, m.type) for m in self.maps.by_index)
        self._map_names = [m.name for m in self.maps.by_index]
        self._event_log = zeroed_words(EVENT_LOG)
        self._event_maps = zeroed_words(EV_MAP_WORDS * max(1, len(self._map_names)))
        self._area: OutputArea | None = None  # run_packed's output area, reused when free
        self._result_pool = ArrayPool(RESULT_CODES, RESULT_POOL, POOLED_PACKETS)  # run_packed's result arrays
        self._setup_env()
        self.mirror = RegionMirror(self.shadow, self.env, shapes)
        self.mirror.before_python = self._records_to_python
        self.compile_seconds = time.perf_counter() - started

    def _init_common(self, program) -> None:
        self.program = program
        self.maps = self.shadow.maps
        self.config = self.shadow.config

    def helper_fallbacks(self) -> dict[str, int]:
        """Per helper the program calls: how many of its calls ran a Python implementation
        (all of them when the program runs interpreted)."""
        if self.interpreted:
            return {}
        ids = sorted(self.native.helpers_called | set(self.fallbacks))
        return {helper_name(i) if known_helper(i) else KFUNC_SPECS[i].name if i in KFUNC_SPECS else f"#{i}":
                self.fallbacks.get(i, 0) for i in ids}

    def notes(self) -> list[str]:
        return self.shadow.notes()  # the Python helpers (timers) run with the shadow as their env

    # -- env -------------------------------------------------------------------------
    def _setup_env(self) -> None:
        env, shadow = self.env, self.shadow
        env.insn_limit = self.config.max_insns
        env.may_goto_budget = self.config.may_goto_budget
        env.helper_cb = ctypes.cast(self._callback, ctypes.c_void_p).value
        env.imm_table = ctypes.addressof(self._imm)
        env.ctx_id = shadow.ctx_region.id
        env.pkt_id = shadow.packet_region.id
        env.pkt_base = shadow.packet_region.base
        env.ctx_base = shadow.ctx_region.base
        env.headroom = self.config.headroom
        env.min_frame_size = self.config.frame_size
        env.clock_start = self.config.clock_start_ns & M64
        env.clock_step = self.config.clock_step_ns & M64
        env.cpu = self.config.cpu
        env.numa_node = self.config.numa_node
        env.jiffies = self.config.jiffies & M64
        env.func_id = shadow.func_region.id
        env.redir_log = address_of(self._redirect_log)
        env.redir_capacity = REDIRECT_LOG
        env.ev_log, env.ev_capacity = address_of(self._event_log), len(self._event_log)
        env.ev_maps = address_of(self._event_maps)
        env.rec_base = shadow.record_base
        self._record_meta = zeroed_words(RECORD_META_WORDS * RECORD_SLOTS)
        env.rec_meta = address_of(self._record_meta)
        self._arenas: list[tuple[int, bytearray, object]] = []  # (host address, bytes, pin) of each arena
        self._adopted: dict[int, Region] = {}  # record id -> the shadow's region for it
        self._grow_arena(RECORD_ARENA)
        routes = fib_records(self.config.fib_table)
        self._fib_routes = ctypes.create_string_buffer(routes, max(1, len(routes)))
        env.fib_routes, env.fib_count = ctypes.addressof(self._fib_routes), len(routes) // FIB_RECORD
        keys = self.shadow.for_each_keys
        env.each_key_base = keys[0].id if keys else 0
        self._mtu_devices = array("Q", mtu_records(self.config) or [0])
        env.mtu_devices, env.mtu_device_count = address_of(self._mtu_devices), len(self.config.device_mtus)
        env.mtu_ingress = self.config.mtu
        for depth, region in enumerate(shadow.stack_regions[:MAX_CALL_FRAMES]):
            env.stack_ids[depth] = region.id

    def _sync_regions(self) -> None:
        self.mirror.to_native()
        timers = self.shadow.timers  # a Python helper may have grown them
        self.env.timers, self.env.timer_capacity = address_of(timers.words), timers.capacity

    def _packet_to_native(self) -> None:
        xdp, env = self.shadow.xdp, self.env
        env.pkt_meta, env.pkt_data, env.pkt_end, env.pkt_hard_end = xdp.data_meta, xdp.data, xdp.data_end, xdp.hard_end
        env.dirty_lo = min(env.dirty_lo, xdp.data_meta)
        env.dirty_hi = max(env.dirty_hi, xdp.data_end)
        self.shadow.packet_changed()
        self._sync_regions()
        env.frame = self.mirror.host_of(self.shadow.packet_region.id)

    def _packet_to_shadow(self) -> None:
        xdp, env = self.shadow.xdp, self.env
        xdp.data_meta, xdp.data, xdp.data_end = env.pkt_meta, env.pkt_data, env.pkt_end
        xdp.hard_end = env.pkt_hard_end
        xdp.frame_size = xdp.hard_end + SKB_SHARED_INFO_TAILROOM
        self.shadow.packet_changed()

    def _services_to_native(self) -> None:
        services = self.shadow.services
        self.env.clock_reads, self.env.prandom_state = services.reads, services.rng

    def _services_to_shadow(self) -> None:
        services = self.shadow.services
        services.reads, services.rng = self.env.clock_reads, self.env.prandom_state

    def _set_ctx(self, ctx: XdpContext) -> None:
        values = self.env.ctx_values
        for index, name in SCALAR_SLOTS:
            values[index] = getattr(ctx, name) & M32

    # -- helper callback ---------------------------------------------------------------
    def _helper_callback(self, env_addr, helper_id, pc, r1, r2, r3, r4, r5):
        shadow = self.shadow
        try:
            if helper_id in self._GROWERS:
                self.env.cb_insns = 0  # no instructions ran
                self._GROWERS[helper_id](self, r1)
                return 0
            self.fallbacks[helper_id] += 1
            if self._placed:
                self._packet_into_frame()
            self.mirror.to_python()
            self._services_to_shadow()
            self._packet_to_shadow()
            spec = shadow.helpers.get(helper_id) or KFUNC_SPECS.get(helper_id)
            if spec is None:
                raise MemoryFault(f"callx to helper #{helper_id}, which the runtime does not implement")
            env = self.env
            shadow._current_comp = self.comps[env.cb_prog]
            redirect = shadow.state.redirect
            # Callbacks (bpf_loop ...) run in the interpreter one frame below the
            # native call depth, on the same instruction budget.
            shadow.frames[:] = [_NATIVE_FRAME] * env.cb_depth
            env.cb_used = 1
            # The interpreter charges a callback's instructions to a budget of their own
            # (VmEngine._loop), starting from what earlier callbacks of this run ran.
            shadow.count = before = env.cb_total
            try:
                result = spec.impl(shadow, r1, r2, r3, r4, r5)
            finally:
                env.cb_insns = shadow.count - before
                self._services_to_native()
            if shadow.state.redirect is not redirect:
                env.redir_kind = RedirectKind.PYTHON
            if helper_id in PRINTING_HELPERS and self.native.printk_native and shadow.state.trace_printk:
                self._log_text(shadow.state.trace_printk.pop())
            self._packet_to_native()
            return env.cb_r0 if result is None else result & M64
        except MemoryFault as exc:
            where = getattr(exc, "where", None)  # a fault inside a callback: its own program and pc
            self._pending_fault = (self._fault_from(exc, where[1], where[0]) if where else
                                   self._fault_from(exc, pc, self.comps[self.env.cb_prog]))
        except _TailCall:  # only a callx or a callback run in Python gets here: tail calls are native
            self._error = XdpError("the jit engine cannot make a tail call through callx or from a callback "
                                   "run by a Python helper; use --target vm")
        except BaseException as exc:  # noqa: BLE001 - must not unwind through native frames
            self._error = exc
        self.env.fault_kind = FaultKind.HELPER
        self.env.stop = 1
        return 0

    def _packet_into_frame(self) -> None:
        """The packet loop runs this program's packets where the input holds them (batch.py,
        in place) and a Python helper, which sees the packet in the shadow's frame, was
        called: the packet is copied into the frame, zeroed around it as the loop would
        have, once per packet (the program cannot have changed it: proofs.py)."""
        env, frame = self.env, ctypes.addressof(self._frame_view)
        if env.frame == frame:
            return
        ctypes.memset(frame + env.dirty_lo, 0, max(0, env.dirty_hi - env.dirty_lo))
        ctypes.memmove(frame + env.pkt_meta, env.frame + env.pkt_meta, env.pkt_end - env.pkt_meta)
        env.frame = frame

    def _grow_events(self, need: int) -> None:
        """A bigger event log for a record of `need` words (its records kept)."""
        env = self.env
        log = zeroed_words(max(2 * len(self._event_log), env.ev_used + need))
        log[:env.ev_used] = self._event_log[:env.ev_used]
        self._event_log = log
        env.ev_log, env.ev_capacity = address_of(log), len(log)

    def _grow_arena(self, need: int) -> None:
        """A fresh arena for the run's next records (the records already made keep theirs)."""
        last = len(self._arenas[-1][1]) if self._arenas else 0
        arena = bytearray(max(need, 2 * last))
        pin = (ctypes.c_char * len(arena)).from_buffer(arena)
        self._arenas.append((ctypes.addressof(pin), arena, pin))
        env = self.env
        env.rec_arena, env.rec_arena_cap, env.rec_arena_used = ctypes.addressof(pin), len(arena), 0

    _GROWERS = {GROW_REGIONS: lambda self, need: self.mirror.grow(), GROW_EVENTS: lambda self, need: self._grow_events(need),
                GROW_ARENA: lambda self, need: self._grow_arena(need)}

    def _records_to_python(self) -> None:
        """The shadow's ring buffer records made equal to native code's (records.py): the
        records native code holds adopted as regions over their arena bytes, the ones it let go
        dropped."""
        env, shadow = self.env, self.shadow
        if not env.rec_native:
            return
        bits, base = env.rec_bits, shadow.record_base
        for rid, region in list(shadow._scratch.items()):
            slot = rid - base
            if 0 <= slot < RECORD_SLOTS and not bits >> slot & 1:
                del shadow._scratch[rid]
                shadow._drop_scratch(region)
        meta = self._record_meta
        for slot in range(RECORD_SLOTS):
            if not bits >> slot & 1:
                continue
            rid = base + slot
            if shadow._scratch.get(rid) is self._adopted.get(rid) is not None:
                continue
            host, size, map_index = meta[RECORD_META_WORDS * slot:RECORD_META_WORDS * (slot + 1)]
            start, arena = next((start, arena) for start, arena, _ in self._arenas if start <= host < start + len(arena))
            view = memoryview(arena)[host - start:host - start + size]
            region = Region(rid, f"ringbuf {self._map_names[map_index]} record", view)
            shadow.mem.regions[rid] = shadow._scratch[rid] = self._adopted[rid] = region
        shadow.record_bits = bits

    def _native_events(self) -> tuple[list[dict], list[str]]:
        """The events and trace_printk lines of the one run's records in the event log, which
        is emptied."""
        used, self.env.ev_used = self.env.ev_used, 0
        events = [event for _, event in decode_events(self._event_log, used, self._map_names)]
        lines = [line for _, line in printk_lines(self._event_log, used, self.native.printk_formats)] \
            if self.native.printk_native else []
        return events, lines

    def _log_text(self, text: str) -> None:
        """A trace line the Python helper made, appended to the event log as a TEXT_RECORD
        (printk.py), where the native sites' lines are, in the order they were printed."""
        env = self.env
        data = text.encode("latin-1")
        words = HEADER_WORDS + (len(data) + 7) // 8
        if env.ev_used + words > env.ev_capacity:
            self._grow_events(words)
        record = array("Q", [env.ev_index, PRINTK_MAP, TEXT_RECORD, len(data)])
        record.frombytes(data.ljust(8 * (words - HEADER_WORDS), b"\0"))
        self._event_log[env.ev_used:env.ev_used + words] = record
        env.ev_used += words

    # -- faults ----------------------------------------------------------------------------
    def _fault_from(self, exc: MemoryFault, pc: int, comp=None) -> Fault:
        insn = (comp or self.comp).insns.get(pc)
        return Fault.at(exc.message, pc, insn.line if insn is not None else None, address=exc.address,
                        region=exc.region)

    def _native_fault(self) -> Fault | None:
        env = self.env
        kind = env.fault_kind
        if kind == FaultKind.NONE:
            return None
        pc, comp = env.fault_pc, self.comps[env.fault_prog]
        if kind == FaultKind.HELPER:
            return self._pending_fault
        if kind == FaultKind.MEMORY:
            return self._fault_from(self._memory_fault(env.fault_addr, env.fault_size, env.fault_write), pc, comp)
        if kind == FaultKind.INSN_LIMIT:
            exc = MemoryFault(self.config.runaway_message(comp.has_may_goto))
            return self._fault_from(exc, pc, comp)
        return self._fault_from(MemoryFault(self.native.messages[env.fault_addr]), pc, comp)

    def _memory_fault(self, addr: int, size: int, write: int) -> MemoryFault:
        """The interpreter's own fault for this access (it must fail there too)."""
        self._packet_to_shadow()
        self.mirror.to_python()
        mem = self.shadow.mem
        try:
            if write & ACCESS_HELPER:
                if write & 1:
                    mem.resolve(addr, size, True)  # what mem.write checks, without the bytes
                else:
                    mem.read(addr, size)
            elif write:
                region, _ = mem.resolve(addr, size, True)
                if region.reader is not None:  # an atomic on the context
                    raise MemoryFault(f"atomic access to {region.name}", addr, region.name)
            else:
                mem.load(addr, size)
        except MemoryFault as exc:
            return exc
        return MemoryFault(f"native check refused an access of {size} bytes at {mem.describe(addr)}", addr)

    # -- running ------------------------------------------------------------------------------
    def _invoke(self, r1: int, r2: int = 0) -> int:
        env = self.env
        for n in range(11):
            env.init_regs[n] = 0
        env.init_regs[1], env.init_regs[2] = r1, r2
        env.fault_kind = 0
        env.stop = 0
        env.insns = 0
        env.redir_kind = RedirectKind.NONE
        env.ev_used = env.ev_index = 0
        env.ev_run += 1
        self._pending_fault = None
        self._error = None
        self._services_to_native()
        r0 = self._run_fn(self._env_addr)
        self._services_to_shadow()
        self.mirror.to_python()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return r0

    def run(self, packet: bytes, ctx: XdpContext | None = None) -> RunResult:
        if self.interpreted:
            return self.shadow.run(packet, ctx)
        shadow = self.shadow
        ctx = ctx or XdpContext()
        shadow.xdp.reset(packet, ctx)
        run = shadow._begin_run()
        self._set_ctx(ctx)
        self._packet_to_native()
        try:
            r0 = self._invoke(shadow.ctx_region.base)
            fault = self._native_fault()
            self._packet_to_shadow()
        finally:
            shadow._end_run()
        shadow.count = self.env.insns
        retval = 0 if fault is not None else r0 & M32
        redirect = self._redirect(run) if fault is None and retval == XDP_REDIRECT else None
        events, lines = self._native_events()
        events += run.events  # Python's come later (events.py)
        return RunResult(retval=retval, packet=shadow.xdp.packet, redirect=redirect, fault=fault,
                         trace_printk=lines + run.trace_printk, events=events, insns_executed=self.env.insns,
                         meta=shadow.xdp.meta)

    def _redirect(self, run) -> dict | None:
        """RunResult.redirect from the env's redirect fields."""
        record = [getattr(self.env, name) for name in REDIRECT_FIELDS]
        if record[0] == RedirectKind.PYTHON:
            return run.redirect
        return RedirectTargets(self._map_refs).decode(record)

    def run_batch(self, packets: Sequence[bytes], ctx: XdpContext | None = None) -> list[RunResult]:
        """Every packet through the native packet loop (`run_packed`), as RunResults."""
        if self.interpreted:
            return self.shadow.run_batch(packets, ctx)
        offsets, lengths, position = array("Q"), array("I"), 0
        for packet in packets:
            offsets.append(position)
            lengths.append(len(packet))
            position += len(packet)
        results = self.run_packed(b"".join(packets), offsets, lengths, ctx)
        return [results.result(i) for i in range(len(results))]

    def run_packed(self, buffer, offsets, lengths, ctx: XdpContext | None = None) -> PackedResults:
        """The bulk API (see packed.py): no Python object per packet on the hot path.
        Changed packets go into one OutputArea, redirect targets into a raw log
        (packed.RedirectTargets) that is decoded only when a target is asked for."""
        offsets, lengths = as_array(offsets, "Q"), as_array(lengths, "I")
        if self.interpreted:
            return self._run_packed_interpreted(buffer, offsets, lengths, ctx)
        count = len(offsets)
        if len(lengths) != count:
            raise XdpError(f"run_packed: {count} offsets but {len(lengths)} lengths")
        size = memoryview(buffer).nbytes
        in_addr, _keep = readable_address(buffer)
        ctx = ctx or XdpContext()
        shadow, env = self.shadow, self.env
        self._use_frame(self.config.frame_size)
        shadow.xdp.ctx = ctx
        self._set_ctx(ctx)
        retvals, fault_codes, insns, out_offsets, out_lengths = self._result_arrays(count)
        results = PackedResults(retvals, fault_codes, insns, b"", out_offsets, out_lengths,
                                redirects=RedirectTargets(self._map_refs))
        out = self._output_area(min(OUT_RESERVE_MAX, OUT_SLACK + count * env.frame_capacity))
        env.in_buf, env.in_offsets, env.in_lengths = in_addr, address_of(offsets), address_of(lengths)
        env.in_size = size
        env.retvals, env.fault_kinds = address_of(results.retvals), address_of(results.fault_codes)
        env.insn_counts = address_of(results.insns)
        env.out_offsets, env.out_lengths = address_of(results.out_offsets), address_of(results.out_lengths)
        env.out_used = 0
        index = 0
        while index < count:
            env.out_buf, env.out_capacity = out.address(), out.capacity
            done, run = self._native_batch(index, count)
            self._drain_redirects(results)
            if env.ev_used:  # decoded when the results are first asked for events
                piece = self._event_log[:env.ev_used]
                if self.native.printk_native:  # lines made when first asked for (packed.TraceLines)
                    results.trace_printk.add_log(piece, self.native.printk_formats)
                results.events.add_log(piece, self._map_names)
                env.ev_used = 0
            if done == index:  # packet `index` is not in the buffer, or needs a bigger frame or output
                offset, length = offsets[index], lengths[index]
                if offset + length > size:
                    raise XdpError(f"run_packed: packet {index} extends past the end of the buffer")
                need = self.config.headroom + length + SKB_SHARED_INFO_TAILROOM
                if need > env.frame_capacity:
                    self._use_frame(need)
                if env.out_capacity - env.out_used < env.frame_capacity:
                    out.grow()
                continue
            last = done - 1
            if results.fault_codes[last] or env.cb_used:
                self._collect(results, last, run)
            shadow._end_run()  # after _collect: fault wording may need the packet's scratch regions
            index = done
        results.out = out.result(env.out_used)
        results.source, results.source_offsets = buffer, offsets
        shadow.count = env.insns
        return results

    def _result_arrays(self, count: int) -> tuple[array, ...]:
        """run_packed's per-packet arrays (RESULT_CODES) for `count` packets, from the pool
        (pools.py): the packet loop writes every entry of every packet it runs, and run_packed
        returns only once all ran."""
        return self._result_pool.take(count)

    def _output_area(self, reserve: int) -> OutputArea:
        """The last call's output area when no result views it any more, else a new one
        (reserved, not committed: only the bytes of changed packets are ever touched)."""
        area = self._area
        if area is None or not area.free():
            area = self._area = OutputArea(reserve)
        elif area.capacity < reserve:
            area.grow(reserve)
        return area

    def _run_packed_interpreted(self, buffer, offsets, lengths, ctx) -> PackedResults:
        if len(lengths) != len(offsets):
            raise XdpError(f"run_packed: {len(offsets)} offsets but {len(lengths)} lengths")
        view = memoryview(buffer)
        packets = []
        for index, (offset, length) in enumerate(zip(offsets, lengths)):
            if offset + length > view.nbytes:
                raise XdpError(f"run_packed: packet {index} extends past the end of the buffer")
            packets.append(bytes(view[offset:offset + length]))
        return PackedResults.from_results(self.shadow.run_batch(packets, ctx))

    def _use_frame(self, size: int) -> None:
        """A zeroed frame of `size` bytes for the packet loop (the shadow's too)."""
        frame = bytearray(size)
        self._frame_view = (ctypes.c_char * size).from_buffer(frame)
        self.shadow.xdp.frame = frame
        self.shadow.packet_changed()
        env = self.env
        env.frame, env.frame_capacity = ctypes.addressof(self._frame_view), size
        env.dirty_lo = env.dirty_hi = 0

    def _native_batch(self, start: int, end: int):
        """Run packets start.. natively until one needs Python; (next index, its RunState).
        The run is left open (scratch regions alive) for the caller to collect and end."""
        shadow, env = self.shadow, self.env
        self._sync_regions()
        run = shadow._begin_run()
        env.stop = 0
        self._error = self._pending_fault = None
        self._services_to_native()
        self._placed = self.native.in_place
        try:
            done = self._batch_fn(self._env_addr, start, end)
        finally:
            self._placed = False
        self._services_to_shadow()
        self.mirror.to_python()
        if self._error is not None or done == start:
            shadow._end_run()
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return done, run

    def _drain_redirects(self, results: PackedResults) -> None:
        """The native redirect log of the last batch call, appended raw to `results.redirects`."""
        used = self.env.redir_used
        if used:
            results.redirects.append_log(self._redirect_log[:used * REDIRECT_WORDS])
            self.env.redir_used = 0

    def _collect(self, results: PackedResults, index: int, run) -> None:
        """What a packet left on the Python side: its fault, redirect, output."""
        fault = self._native_fault()
        if fault is not None:
            results.faults[index] = fault
        elif results.retvals[index] == XDP_REDIRECT and self.env.redir_kind == RedirectKind.PYTHON:
            results.redirects[index] = run.redirect
        if run.trace_printk:
            results.trace_printk[index] = run.trace_printk
        if run.events:  # after the packet's native events (events.py)
            results.events.setdefault(index, []).extend(run.events)

    def run_raw_once(self, mem: bytes) -> int:
        region = self.shadow.mem.add("mem", bytearray(mem))
        self.shadow._begin_run()
        self._sync_regions()
        try:
            r0 = self._invoke(region.base if mem else 0, len(mem))
            fault = self._native_fault()
        finally:
            self.shadow._end_run()
            self.shadow.mem.remove(region)
        if fault is not None:
            raise VmFault(fault)
        return r0 & M64


def run_raw(insns: list[Instruction], mem: bytes = b"", config: RuntimeConfig | None = None) -> int:
    """The bpf_conformance convention on native code (as `vm.run_raw`): r1 = pointer
    to a copy of `mem`, r2 = its length; r0 as u64; a fault raises VmFault."""
    return JitEngine(None, None, config, _raw=(insns, CONFORMANCE_HELPERS)).run_raw_once(mem)
