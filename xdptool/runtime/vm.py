"""`VmEngine`: the reference interpreter — the semantics every other engine is held to.

Each program is compiled once into a list of closures, one per instruction slot
(`code[pc]()` executes the instruction and returns the next pc, -1 on exit), built
from the operation tables in ebpf/semantics.py; the interpreter loop is then just
``pc = code[pc]()``.  Registers are a list of 11 unsigned 64-bit ints.  Memory
goes through the checked address space of memory.py: the packet frame, one
512-byte region per call frame (at most 8), the xdp_md context (computed on
read, never writable), each map value a program points at, helper scratch.  Any
violation — and a run longer than `config.max_insns` — stops the run as
XDP_ABORTED with a `Fault` (pc, message, address, region, C line) in the result.

BPF-to-BPF calls save r6-r9 and r10 and give the callee its own frame; callbacks
(bpf_loop, bpf_for_each_map_elem) run as nested activations; tail calls replace
the running program (at most 33, MAX_TAIL_CALL_CNT) and keep the frame.  Each
frame has may_goto's hidden loop budget (semantics.MayGoto), set afresh by the
frame's start: the entry, each call and callback invocation, each tail call.

With `trace=True` every executed instruction is recorded (pc, text, registers it
changed) in `RunResult.trace`; trace or `coverage=True` also count executions per
pc (`engine.coverage`).  `run_raw` runs bare instructions with the bpf_conformance
convention.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Sequence

from ..ebpf.insn import Instruction, renumber
from ..ebpf.validate import check_runnable
from ..ebpf.opcodes import BYTE_SWAPS, LD_IMM64, Alu, AtomicOp, CallSrc, Cls, JmpOp, Mode, PseudoSrc, Src
from ..ebpf.semantics import ALU32, ALU64, ATOMIC_RMW, JMP32, JMP64, M32, M64, byteswap, sign_extend
from ..elf.model import Program, RelocKind
from ..errors import XdpError
from ..platform.ctx import XDP_MD_SIZE
from ..platform.helper_ids import HELPER_ID
from . import helpers as helper_table
from .config import MAX_BPF_STACK, MAX_CALL_FRAMES, MAX_TAIL_CALL_CNT, RuntimeConfig
from .contract import Engine, Fault, RunResult, XdpContext
from .helpers import RunState, Services
from .kfuncs import resolve_kfunc
from .maps import MapStore
from .maps_base import Map
from .memory import MASK, OFFSET_MASK, ORIGIN, PACK, REGION_SHIFT, UNPACK, AddressSpace, MemoryFault, Region
from .xdp import XdpBuffer

EXIT = -1


class VmFault(XdpError):
    """run_raw: the program faulted (carries the Fault)."""

    def __init__(self, fault: Fault):
        self.fault = fault
        super().__init__(str(fault))


class _TailCall(Exception):
    def __init__(self, target: "_Compiled"):
        self.target = target


class _Compiled:
    """A program's closures plus what fault reports need."""

    def __init__(self, name: str, insns: list[Instruction]):
        self.name = name
        self.insns = {insn.pc: insn for insn in insns}
        self.has_may_goto = any(insn.is_may_goto for insn in insns)
        self.takes_locks = any(insn.is_helper_call and insn.imm == helper_table.SPIN_LOCK_ID for insn in insns)
        self.code: list[Callable[[], int]] = []
        self.error: str | None = None  # a tail-call target that could not be compiled
        self.counts: defaultdict[int, int] = defaultdict(int)  # pc -> executions
        self.ways: defaultdict[int, set[bool]] = defaultdict(set)  # conditional jump pc -> {taken?}


FOR_EACH_MAP_ELEM = HELPER_ID["for_each_map_elem"]


def _calls(program: Program, helper_id: int) -> bool:
    """Whether `program` or a program of its object (a tail call's target) calls the helper."""
    programs = program.object.programs if program.object is not None else [program]
    return any(insn.is_helper_call and insn.imm == helper_id for p in {id(p): p for p in [program, *programs]}.values()
               for insn in p.insns)


class VmEngine(Engine):
    name = "vm"

    def __init__(self, program: Program | None, maps: MapStore | None = None, config: RuntimeConfig | None = None,
                 trace: bool = False, coverage: bool = False, helpers: dict | None = None):
        self.config = config or (maps.config if maps is not None else RuntimeConfig())
        self.maps = maps if maps is not None else MapStore({}, self.config)
        self.program = program
        self.tracing = trace
        self.counting = trace or coverage
        self.helpers = helper_table.HELPERS if helpers is None else helpers
        self.services = Services(self.config)
        self.timers = helper_table.Timers()
        self.mem = AddressSpace()
        self.xdp = XdpBuffer(self.config)
        self.R = [0] * 11
        self.frames: list[tuple] = []
        # may_goto's hidden per-frame budget (semantics.MayGoto), by call depth
        self.may_goto_left = [self.config.may_goto_budget] * MAX_CALL_FRAMES
        self.count = 0
        self.state = RunState([], [])  # the current run's accumulators (helpers write here)
        self._current_comp: _Compiled | None = None  # the program a helper was called from
        self._trace: list | None = None
        self._scratch: dict[int, Region] = {}
        self.ctx_region = self.mem.add("ctx", bytes(XDP_MD_SIZE), writable=False, reader=self._read_ctx)
        self.packet_region = self.mem.add("packet", self.xdp.frame)
        self.stack_regions = [self.mem.add(f"stack frame {i}", bytearray(MAX_BPF_STACK))
                              for i in range(MAX_CALL_FRAMES)]
        self.func_region = self.mem.add("function", b"", writable=False)
        self._map_regions: dict[str, Region] = {}
        self._map_by_region: dict[int, Map] = {}
        for m in self.maps.values():
            region = self.mem.add(f"map {m.name}", b"", writable=False)  # a handle: no bytes to access
            self._map_regions[m.name] = region
            self._map_by_region[region.id] = m
        # bpf_for_each_map_elem's key, one region per call depth (helpers.for_each_map_elem), as
        # long as the longest key; only for a program that calls it (others' ids stay as they were)
        self.for_each_keys: list[Region] = []
        if program is not None and _calls(program, FOR_EACH_MAP_ELEM):
            size = max([4, *(m.key_size for m in self.maps.values())])
            self.for_each_keys = [self.mem.add(f"for_each key {depth}", bytearray(size), writable=False)
                                  for depth in range(MAX_CALL_FRAMES)]
        # region ids of ring buffer records (helpers.RECORD_SLOTS a run may hold at once): the
        # lowest free one each time, so that native code allocates them alike (jit/records.py)
        self.record_base = self.mem._next_id
        self.mem._next_id += helper_table.RECORD_SLOTS
        self.record_bits = 0
        self._value_regions: dict[tuple[str, int], Region] = {}
        self._programs: list[Program] = []
        self._compiled: dict[str, _Compiled] = {}
        if program is not None:
            self._programs = list(program.object.programs) if program.object is not None else [program]
            if program not in self._programs:
                self._programs.append(program)
            self.main = self._compile(program.name, program.insns)
            for other in self._programs:
                if other is not program and other.type == program.type:
                    try:
                        check_runnable(other)  # make_engine checked `program`; its tail-call targets too
                        self._compile(other.name, other.insns)
                    except XdpError as exc:  # only an error if it is ever tail-called
                        self._compiled[other.name] = broken = _Compiled(other.name, [])
                        broken.error = str(exc)
        self.packet_changed()

    # == the Engine contract =================================================================
    def run(self, packet: bytes, ctx: XdpContext | None = None) -> RunResult:
        return self._run_packet(packet, ctx)

    def run_batch(self, packets: Sequence[bytes], ctx: XdpContext | None = None) -> list[RunResult]:
        return [self._run_packet(p, ctx) for p in packets]

    def notes(self) -> list[str]:
        return [helper_table.TIMERS_NEVER_FIRE] if self.timers.armed else []

    @property
    def coverage(self) -> dict[int, int]:
        """Live pc -> executions of the engine's program, summed over runs (trace or
        coverage=True); clear() it to start again."""
        return self._main_comp.counts

    @property
    def branch_coverage(self) -> dict[int, set[bool]]:
        """Live conditional-jump pc -> the ways seen (True = taken, False = fell through)."""
        return self._main_comp.ways

    @property
    def _main_comp(self) -> _Compiled:
        return self.main if self.program is not None else _Compiled("none", [])

    def coverage_for(self, program_name: str) -> dict[int, int]:
        """pc -> executions of another program of the object (tail-call targets)."""
        comp = self._compiled.get(program_name)
        return comp.counts if comp is not None else {}

    def _run_packet(self, packet: bytes, ctx: XdpContext | None) -> RunResult:
        if self.program is None:
            raise XdpError("this engine was created without a program (use run_raw)")
        self.xdp.reset(packet, ctx)
        self.packet_changed()
        run = self._begin_run()
        retval, fault = 0, None
        try:
            retval = self._call_entry(self.main, self.ctx_region.base) & M32
        except MemoryFault as exc:
            fault = self._fault(exc)
        finally:
            self._end_run()
        redirect = run.redirect if fault is None and retval == helper_table.XDP_REDIRECT else None
        return RunResult(retval=0 if fault else retval, packet=self.xdp.packet, redirect=redirect, fault=fault,
                         trace_printk=run.trace_printk, events=run.events, insns_executed=self.count,
                         meta=self.xdp.meta, **({"trace": self._trace} if self._trace is not None else {}))

    def _begin_run(self) -> RunState:
        self.state = RunState([], [])
        self.count = 0
        self.frames.clear()
        self._trace = [] if self.tracing else None
        return self.state

    def _end_run(self) -> None:
        for region in self._scratch.values():
            self._drop_scratch(region)
        self._scratch.clear()

    def _call_entry(self, comp: _Compiled, r1: int, r2: int = 0) -> int:
        R = self.R
        R[:] = [0] * 11
        R[1], R[2] = r1, r2
        frame = self.stack_regions[0]
        frame.buf[:] = bytes(MAX_BPF_STACK)
        R[10] = frame.base + MAX_BPF_STACK
        self.may_goto_left[0] = self.config.may_goto_budget
        return self._loop(comp, 0, 0)

    def _fault(self, exc: MemoryFault) -> Fault:
        comp, pc = getattr(exc, "where", (None, -1))
        insn = comp.insns.get(pc) if comp is not None else None
        return Fault.at(exc.message, pc, insn.line if insn is not None else None, address=exc.address,
                        region=exc.region)

    # == the interpreter loop =================================================================
    def _loop(self, comp: _Compiled, pc: int, base: int) -> int:
        """Run from `pc` until an exit returns to call depth `base`; the r0 it returns."""
        R = self.R
        frames = self.frames
        budget = self.config.max_insns - self.count
        n = 0
        code = comp.code
        try:
            while True:
                try:
                    while True:
                        n += 1
                        pc = code[pc]()
                        if pc < 0:
                            if len(frames) == base:
                                return R[0]
                            pc, comp, R[6], R[7], R[8], R[9], R[10] = frames.pop()
                            code = comp.code
                        if n > budget:
                            raise MemoryFault(self.config.runaway_message(comp.has_may_goto))
                except _TailCall as call:
                    comp = call.target
                    code = comp.code
                    pc = 0
                    self.may_goto_left[len(frames)] = self.config.may_goto_budget  # its prologue sets it
        except MemoryFault as exc:
            if not hasattr(exc, "where"):
                exc.where = (comp, pc)
            raise
        finally:
            self.count += n

    # == compiling =========================================================================
    def _compile(self, name: str, insns: list[Instruction]) -> _Compiled:
        comp = _Compiled(name, insns)
        self._compiled[name] = comp
        slots = max((i.pc + i.slots for i in insns), default=0)
        code: list[Callable[[], int]] = [None] * slots  # type: ignore[list-item]
        comp.code = code
        for insn in insns:
            code[insn.pc] = self._handler(insn, comp, slots)
            if insn.slots == 2:
                code[insn.pc + 1] = _fault_handler(f"jump into the middle of ld_imm64 at {insn.pc}")
        code.append(_fault_handler("execution ran past the end of the program"))
        for pc, h in enumerate(code):
            if h is None:
                code[pc] = _fault_handler(f"no instruction at pc {pc}")
        if self.counting:
            comp.code = code = [self._instrument(comp, pc, h) for pc, h in enumerate(code)]
        return comp

    def _instrument(self, comp: _Compiled, pc: int, handler: Callable[[], int]) -> Callable[[], int]:
        counts = comp.counts
        insn = comp.insns.get(pc)
        if insn is not None and insn.is_branch and insn.op != JmpOp.JA:
            fall_through = pc + 1

            def branch():
                nxt = handler()
                comp.ways[pc].add(nxt != fall_through)
                return nxt
            inner = branch
        else:
            inner = handler
        if not self.tracing:
            def counted():
                counts[pc] += 1
                return inner()
            return counted
        R = self.R
        text = _insn_text(insn) if insn is not None else "?"

        def traced():
            counts[pc] += 1
            before = R[:]
            entry = {"pc": pc, "insn": text, "changed": {}, "prog": comp.name}
            if self._trace is not None:
                self._trace.append(entry)
            nxt = inner()
            entry["changed"] = {f"r{i}": v for i, (v, old) in enumerate(zip(R, before)) if v != old}
            entry["next"] = nxt  # the branch outcome; below 0 after an exit
            # pointers as (region, offset in its window, window size) now: adjust_head moves the packet's
            regions = self.mem.regions
            entry["pointers"] = {r: (g.name, (v & OFFSET_MASK) - ORIGIN - g.lo, g.hi - g.lo)
                                 for r, v in entry["changed"].items() if (g := regions.get(v >> REGION_SHIFT))}
            return nxt
        return traced

    def _handler(self, insn: Instruction, comp: _Compiled, slots: int) -> Callable[[], int]:
        cls = insn.cls
        nxt = insn.pc + insn.slots
        if insn.code == LD_IMM64:
            value = self._imm64(insn)
            return _alu_const(self.R, insn.dst, value, nxt)
        builder = _BUILDERS.get(cls)
        return builder(self, insn, comp, nxt, slots)

    def _target(self, insn: Instruction, slots: int, comp: _Compiled) -> int:
        """A branch target slot; invalid targets get their own faulting slot."""
        target = insn.target
        if 0 <= target < slots and not _is_ld_imm64_tail(comp, target):
            return target
        comp.code.append(_fault_handler(f"jump from {insn.pc} to invalid pc {target}"))
        return len(comp.code) - 1

    def _imm64(self, insn: Instruction) -> int:
        """The value an ld_imm64 loads: a constant, a map handle, a global-data pointer, a function."""
        reloc = insn.reloc
        if reloc is not None:
            if reloc.kind is RelocKind.MAP:
                return self.map_handle(self.maps[reloc.map])
            if reloc.kind is RelocKind.MAP_VALUE:
                m = self.maps[reloc.map]
                return self.value_pointer(m, m.find_offset(bytes(4))) + reloc.offset
            if reloc.kind is RelocKind.FUNC:
                return self.func_region.base + reloc.offset
            raise XdpError(f"insn {insn.pc}: {reloc.kind.value} reference to {reloc.symbol} "
                           "is not supported by the runtime")
        src = insn.src
        if src == PseudoSrc.IMM:
            return insn.imm64
        if src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX, PseudoSrc.MAP_VALUE, PseudoSrc.MAP_IDX_VALUE):
            index = insn.imm & M32
            if index >= len(self.maps.by_index):
                raise XdpError(f"insn {insn.pc}: ld_imm64 refers to map #{index}, which does not exist")
            m = self.maps.by_index[index]
            if src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX):
                return self.map_handle(m)
            return self.value_pointer(m, m.find_offset(bytes(4))) + (insn.imm_hi & M32)
        if src == PseudoSrc.FUNC:
            return self.func_region.base + insn.pc + 1 + insn.imm
        raise XdpError(f"insn {insn.pc}: ld_imm64 with src={src} is not supported by the runtime")

    # == the helper environment (helpers.HelperEnv) ================================================
    def map_handle(self, m: Map) -> int:
        return self._map_regions[m.name].base

    def map_arg(self, handle: int) -> Map:
        m = self._map_by_region.get(handle >> REGION_SHIFT)
        if m is None or (handle & OFFSET_MASK) != ORIGIN:
            raise MemoryFault(f"helper argument {self.mem.describe(handle)} is not a map pointer", handle)
        return m

    def value_pointer(self, m: Map, offset: int) -> int:
        key = (m.name, offset)
        region = self._value_regions.get(key)
        if region is None:
            view = memoryview(m.buffer)[offset:offset + m.value_size]
            region = self.mem.add(f"map {m.name} value", view, writable=not m.readonly_for_program)
            self._value_regions[key] = region
        return region.base

    def packet_changed(self) -> None:
        region = self.packet_region
        region.buf = self.xdp.frame
        region.lo = self.xdp.data_meta
        region.hi = self.xdp.data_end

    def _read_ctx(self, offset: int, size: int) -> int:
        xdp = self.xdp
        return xdp.md_value(xdp.md_field(offset, size), self.packet_region.base)

    def scratch(self, name: str, size: int) -> int:
        region = self.mem.add(name, bytearray(size))
        self._scratch[region.id] = region
        return region.base

    def scratch_bytes(self, addr: int) -> tuple[str, bytes] | None:
        region = self._scratch.get(addr >> REGION_SHIFT)
        if region is None or addr != region.base:
            return None
        return region.name, bytes(region.buf)

    def release_scratch(self, addr: int) -> None:
        region = self._scratch.pop(addr >> REGION_SHIFT, None)
        if region is not None:
            self._drop_scratch(region)

    def record(self, name: str, size: int) -> int:
        """A ring buffer record: a zeroed region under the lowest free record id, 0 when the
        run holds RECORD_SLOTS already."""
        free = ~self.record_bits & ((1 << helper_table.RECORD_SLOTS) - 1)
        if not free:
            return 0
        slot = (free & -free).bit_length() - 1
        region = Region(self.record_base + slot, name, bytearray(size))
        self.mem.regions[region.id] = region
        self._scratch[region.id] = region
        self.record_bits |= 1 << slot
        return region.base

    def _drop_scratch(self, region: Region) -> None:
        slot = region.id - self.record_base
        if 0 <= slot < helper_table.RECORD_SLOTS:  # a record id goes back to the pool, not the free list
            if self.mem.regions.get(region.id) is region:
                del self.mem.regions[region.id]
            self.record_bits &= ~(1 << slot)
        else:
            self.mem.remove(region)

    def call_function(self, func: int, args: tuple[int, ...]) -> int:
        """Run a callback (bpf_loop, for_each_map_elem) as a nested call; its r0."""
        if func >> REGION_SHIFT != self.func_region.id:
            raise MemoryFault(f"callback {self.mem.describe(func)} is not a function pointer", func)
        pc = (func & OFFSET_MASK) - ORIGIN
        comp = self._current_comp
        R = self.R
        saved = tuple(R[:6])
        self._push_frame(EXIT, comp)
        R[1:6] = [a & M64 for a in args]
        result = self._loop(comp, pc, len(self.frames))
        _, _, R[6], R[7], R[8], R[9], R[10] = self.frames.pop()
        R[:6] = saved
        return result

    def _push_frame(self, return_pc: int, comp: _Compiled) -> None:
        R = self.R
        depth = len(self.frames) + 1
        if depth >= MAX_CALL_FRAMES:
            raise MemoryFault(f"call depth exceeds {MAX_CALL_FRAMES} frames")
        self.frames.append((return_pc, comp, R[6], R[7], R[8], R[9], R[10]))
        frame = self.stack_regions[depth]
        frame.buf[:] = bytes(MAX_BPF_STACK)
        R[10] = frame.base + MAX_BPF_STACK
        self.may_goto_left[depth] = self.config.may_goto_budget

    def tail_call(self, m: Map, index: int) -> None:
        """kernel/bpf/core.c JMP_TAIL_CALL: bounds, then the count, then the slot."""
        if index >= m.max_entries or self.state.tail_calls >= MAX_TAIL_CALL_CNT:
            return
        self.state.tail_calls += 1
        prog_index = m.slot_value(index)
        if prog_index is None or prog_index >= len(self._programs):
            return
        target = self._compiled.get(self._programs[prog_index].name)
        if target is None:
            target = self._compile(self._programs[prog_index].name, self._programs[prog_index].insns)
        if target.error:
            raise MemoryFault(f"tail call into {target.name}: {target.error}")
        raise _TailCall(target)


# == instruction builders ================================================================
# Each builder returns the closure for one instruction: fn() -> next pc.


def _fault_handler(message: str) -> Callable[[], int]:
    def h():
        raise MemoryFault(message)
    return h


def _is_ld_imm64_tail(comp: _Compiled, pc: int) -> bool:
    prev = comp.insns.get(pc - 1)
    return prev is not None and prev.code == LD_IMM64


def _insn_text(insn: Instruction) -> str:
    try:
        from ..ebpf.disasm import format_insn
    except ImportError:  # pragma: no cover - the disassembler is part of the tree
        return f"code={insn.code:#04x}"
    return format_insn(insn)


def _alu_const(R: list, dst: int, value: int, nxt: int) -> Callable[[], int]:
    value &= M64

    def h():
        R[dst] = value
        return nxt
    return h


def _build_alu(vm: VmEngine, insn: Instruction, comp, nxt: int, slots: int):
    R = vm.R
    dst, src = insn.dst, insn.src
    is64 = insn.cls == Cls.ALU64
    variant = insn.alu
    reg = bool(insn.code & Src.X)
    if variant in BYTE_SWAPS:
        return _build_end(R, insn, nxt)
    fn = (ALU64 if is64 else ALU32).get(variant)
    if fn is None or dst > 10 or (reg and src > 10):
        return _fault_handler(f"invalid ALU instruction (code {insn.code:#04x}, off {insn.off})")
    mask = M64 if is64 else M32
    imm = (insn.imm & M64) if is64 else (insn.imm & M32)
    if variant is Alu.MOV:  # the most common instruction: no table call
        if reg:
            def mov():
                R[dst] = R[src] & mask
                return nxt
            return mov
        return _alu_const(R, dst, imm, nxt)
    if reg:
        def alu_reg():
            R[dst] = fn(R[dst] & mask, R[src] & mask)
            return nxt
        return alu_reg

    def alu_imm():
        R[dst] = fn(R[dst] & mask, imm)
        return nxt
    return alu_imm


def _build_end(R: list, insn: Instruction, nxt: int):
    bits, dst = insn.imm, insn.dst
    if bits not in (16, 32, 64):
        return _fault_handler(f"invalid byte swap width {bits}")
    mask = (1 << bits) - 1
    swap = insn.alu is not Alu.TO_LE  # bswap, or to_be on a little-endian host

    def end():
        R[dst] = byteswap(R[dst], bits) if swap else R[dst] & mask
        return nxt
    return end


def _build_jmp(vm: VmEngine, insn: Instruction, comp, nxt: int, slots: int):
    R = vm.R
    op = insn.op
    if op == JmpOp.EXIT:
        return _build_exit(vm, comp) if comp.takes_locks else (lambda: EXIT)
    if op == JmpOp.CALL:
        return _build_call(vm, insn, comp, nxt)
    target = vm._target(insn, slots, comp)
    if op == JmpOp.JA:
        return lambda: target
    if op == JmpOp.JCOND:
        return _build_may_goto(vm, insn, target, nxt)
    is64 = insn.cls == Cls.JMP
    cond = (JMP64 if is64 else JMP32).get(op)
    if cond is None:
        return _fault_handler(f"invalid jump instruction (code {insn.code:#04x})")
    mask = M64 if is64 else M32
    dst, src = insn.dst, insn.src
    if insn.code & Src.X:
        def jmp_reg():
            return target if cond(R[dst] & mask, R[src] & mask) else nxt
        return jmp_reg
    imm = insn.imm & mask

    def jmp_imm():
        return target if cond(R[dst] & mask, imm) else nxt
    return jmp_imm


def _build_exit(vm: VmEngine, comp: _Compiled):
    """The main program's exit must not hold a bpf_spin_lock (check_resource_leak)."""
    frames = vm.frames

    def exit_unlocked():
        if not frames and vm.state.lock is not None:
            raise MemoryFault(helper_table.LOCK_HELD_AT_EXIT)
        return EXIT
    return exit_unlocked


def _build_may_goto(vm: VmEngine, insn: Instruction, target: int, nxt: int):
    """semantics.MayGoto: fall through while the frame's budget lasts, taking one from it."""
    if not insn.is_may_goto or insn.dst or insn.imm:
        return _fault_handler(f"invalid may_goto (src {insn.src}, dst {insn.dst}, imm {insn.imm})")
    left, frames = vm.may_goto_left, vm.frames

    def may_goto():
        depth = len(frames)
        budget = left[depth]
        if budget == 0:
            return target
        left[depth] = budget - 1
        return nxt
    return may_goto


def _build_call(vm: VmEngine, insn: Instruction, comp: _Compiled, nxt: int):
    R = vm.R
    if insn.src == CallSrc.LOCAL:
        target = insn.target

        def local_call():
            vm._push_frame(nxt, comp)
            return target
        return local_call
    if insn.src == CallSrc.KFUNC:  # by its symbol (runtime/kfuncs.py)
        kfunc = resolve_kfunc(insn).impl

        def call_kfunc():
            vm._current_comp = comp
            return _invoke(vm, kfunc, nxt)
        return call_kfunc
    if insn.code & Src.X:  # callx (ubpf/bpf_conformance): the helper id is in a register
        reg = insn.dst or insn.imm

        def callx():
            spec = vm.helpers.get(R[reg])
            if spec is None:
                raise MemoryFault(f"callx to helper #{R[reg]}, which the runtime does not implement")
            vm._current_comp = comp
            return _invoke(vm, spec.impl, nxt)
        return callx
    if vm.helpers is helper_table.HELPERS:
        spec = helper_table.resolve_helper(insn.imm)
    else:
        spec = vm.helpers.get(insn.imm)
        if spec is None:
            raise XdpError(f"program calls {helper_table.helper_label(insn.imm)}, which the runtime does not implement")
    impl = spec.impl
    if comp.takes_locks and insn.imm != helper_table.SPIN_UNLOCK_ID:
        def call_unlocked():  # check_helper_call: no helper but the unlock while a lock is held
            if vm.state.lock is not None:
                raise MemoryFault(helper_table.SPIN_LOCK_FAULTS["call"])
            vm._current_comp = comp
            return _invoke(vm, impl, nxt)
        return call_unlocked

    def call_helper():
        vm._current_comp = comp
        return _invoke(vm, impl, nxt)
    return call_helper


def _invoke(vm: VmEngine, impl, nxt: int) -> int:
    R = vm.R
    result = impl(vm, R[1], R[2], R[3], R[4], R[5])
    if result is not None:
        R[0] = result & M64
    return nxt


def _build_ldx(vm: VmEngine, insn: Instruction, comp, nxt: int, slots: int):
    R = vm.R
    mem = vm.mem
    regions = mem.regions
    size, dst, src, off = insn.size_bytes, insn.dst, insn.src, insn.off
    unpack = UNPACK[size]
    if insn.mode not in (Mode.MEM, Mode.MEMSX):
        return _fault_handler(f"{Mode(insn.mode).name} loads are not supported for XDP programs")
    signed = insn.mode == Mode.MEMSX
    bits = size * 8

    def ldx():
        addr = (R[src] + off) & M64
        r = regions.get(addr >> 32)
        if r is not None and r.reader is None:
            o = (addr & 0xFFFFFFFF) - ORIGIN
            if r.lo <= o and o + size <= r.hi:
                value = unpack(r.buf, o)[0]
                R[dst] = (sign_extend(value, bits) & M64) if signed else value
                return nxt
        value = mem.load(addr, size)
        R[dst] = (sign_extend(value, bits) & M64) if signed else value
        return nxt
    return ldx


def _build_st(vm: VmEngine, insn: Instruction, comp, nxt: int, slots: int):
    R = vm.R
    mem = vm.mem
    regions = mem.regions
    size, dst, src, off = insn.size_bytes, insn.dst, insn.src, insn.off
    if insn.cls == Cls.STX and insn.mode == Mode.ATOMIC:
        return _build_atomic(vm, insn, nxt)
    if insn.mode != Mode.MEM:
        return _fault_handler(f"invalid store instruction (code {insn.code:#04x})")
    pack = PACK[size]
    mask = MASK[size]
    from_reg = insn.cls == Cls.STX
    imm = insn.imm & mask

    def st():
        addr = (R[dst] + off) & M64
        value = (R[src] & mask) if from_reg else imm
        r = regions.get(addr >> 32)
        if r is not None and r.writable:
            o = (addr & 0xFFFFFFFF) - ORIGIN
            if r.lo <= o and o + size <= r.hi:
                pack(r.buf, o, value)
                return nxt
        mem.store(addr, size, value)
        return nxt
    return st


def _build_atomic(vm: VmEngine, insn: Instruction, nxt: int):
    R = vm.R
    mem = vm.mem
    size, dst, src, off, op = insn.size_bytes, insn.dst, insn.src, insn.off, insn.imm
    if size not in (4, 8):
        return _fault_handler(f"invalid atomic size {size}")
    unpack, pack, mask = UNPACK[size], PACK[size], MASK[size]
    fetch = bool(op & AtomicOp.FETCH)

    def access():
        region, o = mem.resolve((R[dst] + off) & M64, size, True)
        if region.reader is not None:
            raise MemoryFault(f"atomic access to {region.name}", (R[dst] + off) & M64, region.name)
        return region.buf, o

    if op == AtomicOp.CMPXCHG:
        def cmpxchg():
            buf, o = access()
            old = unpack(buf, o)[0]
            if old == R[0] & mask:
                pack(buf, o, R[src] & mask)
            R[0] = old
            return nxt
        return cmpxchg
    if op == AtomicOp.XCHG:
        def xchg():
            buf, o = access()
            old = unpack(buf, o)[0]
            pack(buf, o, R[src] & mask)
            R[src] = old
            return nxt
        return xchg
    rmw = ATOMIC_RMW.get(op & ~AtomicOp.FETCH)
    if rmw is None:
        return _fault_handler(f"invalid atomic operation {op:#x}")

    def atomic():
        buf, o = access()
        old = unpack(buf, o)[0]
        pack(buf, o, rmw(old, R[src] & mask) & mask)
        if fetch:
            R[src] = old
        return nxt
    return atomic


def _build_ld(vm: VmEngine, insn: Instruction, comp, nxt: int, slots: int):
    return _fault_handler(f"legacy {Mode(insn.mode).name} packet loads are not supported for XDP programs"
                          if insn.mode in (Mode.ABS, Mode.IND) else f"invalid instruction code {insn.code:#04x}")


_BUILDERS = {
    Cls.ALU: _build_alu,
    Cls.ALU64: _build_alu,
    Cls.JMP: _build_jmp,
    Cls.JMP32: _build_jmp,
    Cls.LDX: _build_ldx,
    Cls.ST: _build_st,
    Cls.STX: _build_st,
    Cls.LD: _build_ld,
}


# == bpf_conformance =====================================================================


def _unwind(env, r1, *_):
    """bpf_conformance's helper 5 (from ubpf): returns its argument."""
    return r1


CONFORMANCE_HELPERS = {5: helper_table.HelperSpec(5, "unwind", _unwind)}


def run_raw(insns: list[Instruction], mem: bytes = b"", config: RuntimeConfig | None = None) -> int:
    """Run bare instructions: r1 = pointer to a copy of `mem`, r2 = its length; r0 as u64.

    Faults raise VmFault (an XdpError) rather than returning a verdict.
    """
    vm = VmEngine(None, config=config, helpers=CONFORMANCE_HELPERS)
    comp = vm._compile("raw", renumber([insn.copy() for insn in insns]))
    region = vm.mem.add("mem", bytearray(mem))
    vm._begin_run()
    try:
        return vm._call_entry(comp, region.base, len(mem)) & M64
    except MemoryFault as exc:
        raise VmFault(vm._fault(exc)) from None
    finally:
        vm._end_run()
