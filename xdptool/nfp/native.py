"""nfp-emu's fast path: a linked card image compiled to native code with LLVM.

The interpreted executor (executor.py) stays the reference; this module compiles
the same image, instruction for instruction, so that a replay runs at native
speed and gives the same verdicts, packets, maps and cycle counts (the tests
compare the two packet for packet).  How:

- The static rules are the executor's own: `check_image` runs before compiling
  (operand classes, restricted fields, defer slots, ...), so an image that breaks
  the ISA never reaches native code.
- One basic block per NFP instruction; the thread's GPRs, condition codes,
  previous-ALU latches, transfer registers and LM pointers are locals that LLVM
  keeps in machine registers; LM is the thread's area on the stack.  Defer slots
  run as on the card: a taken branch records where it lands, the last slot jumps.
- The rules only a run can check (a transfer register read before its memory read
  filled it or before its signal; an LM pointer used within 3 cycles of its CSR
  write or outside the thread's area; an indirect shift with no previous ALU
  result in this context; a branch outside image and firmware) stop the packet
  with a violation the engine raises as the executor's IsaViolation.
- Memory commands reach the packet frame (CTM) and the maps' own buffers (EMEM)
  through the executor's address map; the firmware's map routines run natively
  over the runtime's map layouts with the eBPF JIT's map code (runtime/jit/maps.py).
- The packet loop is native too (`nfp_batch`): per packet it sets up the frame, the
  thread's LM and packet vector as `Executor._reset_card` does, runs the image,
  reads the verdict and packet back as `_card_exit` does, and adds the run's cycle
  counts to per-verdict sums and length histograms (card.Traffic).
- Object code goes through the eBPF JIT's persistent cache (runtime/jit/cache.py),
  keyed by the image's encoding, the maps' shapes and this module's source.

Both ABIs compile: the kernel JIT's images on the card's firmware ABI (abi.py) and
the what-if allocator's on its own (firmware.py: the context words in LM, its map,
adjust and exit routines, registers that must be written before they are read).
So do the instructions no example used: mul_step sequences, local_csr_rd (the
random number CSR as the runtime's splitmix64, LM pointers, the context), deferred
memory commands (the data moves after the last defer slot), NN registers (kept
across packets, as the ME keeps them) and perf events (the record is found and
checked natively; one callback hands its bytes to Python).  `compile_image` returns
None only for what the executor alone can do - a mul_step or local_csr_rd in a
branch's defer slot, a deferred memory command inside one, per-CPU or LRU maps -
and `supported()` says why.
"""

from __future__ import annotations

import ctypes
import hashlib
from array import array
from dataclasses import dataclass
from pathlib import Path

import llvmlite.ir as ir

from ..runtime.config import SKB_SHARED_INFO_TAILROOM, XDP_FRAME_SIZE
from ..platform.maps import MapType
from ..runtime.helpers import BPF_F_CTXLEN_MASK, BPF_F_INDEX_MASK
from ..runtime.jit import backend, cache
from ..runtime.jit.env import ENV, _Layout
from ..runtime.jit.irtypes import I1, I8, I32, I64, I8P, c32, c64, join
from ..runtime.jit.maps import MAP_WORDS, _delete, _hash_find, _hash_value_offset, _update, map_shapes
from ..runtime.jit.packed import OUT_SLACK, PackedResults, address_of, as_array, readable_address
from . import abi, firmware
from .executor import BRANCH_STALL, MAX_STEPS, check_image
from .image import (
    CTM_BASE,
    EMEM_BASE,
    EMEM_MAP_SHIFT,
    LM_BYTES,
    LM_CTX_BASE,
    LM_CTX_DATA,
    LM_CTX_DATA_END,
    LM_CTX_IFINDEX,
    LM_CTX_RXQ,
    LM_STACK_OFFSET,
    STACK_WINDOW,
    Image,
    lm_area_bytes,
)
from .isa import (
    ALU_ARITH,
    ALU_IGNORES_A,
    CMD_OV_LEN_MASK,
    CMD_OV_LEN_SHIFT,
    CMD_OVE_LEN,
    CSR_WRITE_LATENCY,
    MEM_COMMANDS,
    MEM_LITTLE_ENDIAN,
    MUL_STEP_COUNT,
    NfpInsn,
    immed_value,
    shf_reads_b_only,
    sources_swapped,
)
from .registers import MASK32, NN, NONE, Gpr, Imm, Lm, Xfer

VERDICT_SLOTS = 4  # XDP_ABORTED, DROP, PASS, TX: the card's verdicts (a fault counts as aborted)
ROUTINE_NAMES = ("map_lookup", "map_update", "map_delete")  # the map routines, natively over the map layouts
FW_COUNTED = (*ROUTINE_NAMES, "perf_event_output", "adjust_head", "adjust_head_fast", "adjust_tail", "exit")
COUNTERS = ("packets", "insns", "stall", "ctm", "emem", *FW_COUNTED)
HIST = abi.PV_LEN_MASK + 1  # lengths the packet vector can hold
UNCHANGED = (1 << 64) - 1


class Stop:
    """Why a packet stopped early (env.stop_kind): 0 ran to its verdict."""

    NONE, MEMORY, VECTOR, VIOLATION = 0, 1, 2, 3


# violation messages (env.stop_code indexes this list; env.stop_pc the NFP instruction)
VIOLATIONS = [
    "NFP image ran more than a million instructions",
    "{op} read before a memory read filled it",
    "{op} read before its signal arrived",
    "{op} sent before it was written",
    "{op} used before its LM pointer was set",
    "{op} used within 3 cycles of setting its pointer",
    "LM address outside the thread's area",
    "indirect shift without a previous ALU result in this context",
    "ASR without a previous ALU result (its sign bit) in this context",
    "an indirect length without CMD_OVE_LEN in the previous ALU result",
    "the previous ALU result sets another length than the command",
    "branch outside the image and no firmware routine there",
    "firmware: no map with that id",
    "a funnel shift combines only with B",
    "a destination in both banks differs between its banks",
    "register read before it was written",
    "mul_step sequence interrupted",
    "mul_step without a mul_step start right before it",
    "mul_step of another type in this multiplication",
    "mul_step operands changed during the multiplication",
    "mul_step out of order",
    "multiplication ended before all its steps",
    "mul_step last2 is not a mul_step of this multiplication",
    "reading a CSR that is not modelled",
    "writing a CSR that is not modelled",
]
(V_STEPS, V_XIN_EMPTY, V_XIN_PENDING, V_XOUT_EMPTY, V_LM_UNSET, V_LM_EARLY, V_LM_AREA, V_NO_PREV_A,
 V_NO_PREV_ALU, V_NO_OVE_LEN, V_LEN_MISMATCH, V_BAD_BRANCH, V_NO_MAP, V_DBL, V_AB_DIFFERS, V_UNWRITTEN,
 V_MUL_INTERRUPTED, V_MUL_NO_START, V_MUL_TYPE, V_MUL_OPERANDS, V_MUL_ORDER, V_MUL_COUNT, V_MUL_LAST2,
 V_CSR_RD, V_CSR_WR) = range(len(VIOLATIONS))
MUL_KINDS = {"32x32": 1, "16x16": 2, "24x8": 3}  # mul_type local: 0 before the first step names one

FIELDS = (
    ("start_thread", 1), ("contexts", 1), ("area", 1), ("headroom", 1), ("min_frame", 1),
    ("in_buf", 1), ("in_offsets", 1), ("in_lengths", 1),
    ("out_buf", 1), ("out_capacity", 1), ("out_used", 1), ("out_offsets", 1), ("out_lengths", 1),
    ("retvals", 1), ("fault_codes", 1), ("insn_counts", 1), ("rx_queues", 1),
    ("frame", 1), ("frame_capacity", 1), ("dirty_lo", 1), ("dirty_hi", 1),
    ("maps", 1),  # per map: host address of its buffer, its length (2 words)
    ("sums", 1), ("hist_in", 1), ("hist_out", 1),  # per verdict slot
    ("stop_kind", 1), ("stop_code", 1), ("stop_pc", 1), ("stop_addr", 1), ("stop_size", 1), ("next_thread", 1),
    ("rng", 1),  # splitmix64 state of the random number CSR (runtime Services.rng)
    ("nn", 1),  # the ME's 128 next-neighbour registers (u32), kept across packets
    ("ifindex", 1), ("rxq", 1),  # xdp_md fields the what-if's context words hold
    ("perf_cb", 1),  # address of the perf event callback (_PERF)
)
NENV = _Layout(FIELDS)
_BATCH = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64)
# perf event: (packet index, map id, cpu index, record address, record size, packet address, packet bytes)
_PERF_ARGS = (ctypes.c_uint64,) * 7
_PERF = ctypes.CFUNCTYPE(None, *_PERF_ARGS)


class Unsupported(Exception):
    """The image uses what this compiler leaves to the executor."""


def supported(image: Image) -> str | None:
    """Why `image` runs on the executor instead, or None: what lands after a taken branch's defer
    slots must not carry a latch across the landing (a mul_step sequence, local_csr_rd's value, a
    deferred memory command still moving)."""
    branch_slots = {slot for pc, insn in enumerate(image.insns) if insn.is_branch
                    for slot in range(pc + 1, pc + 1 + insn.defer)}
    for pc, insn in enumerate(image.insns):
        if pc in branch_slots and insn.kind in ("mul_step", "csr_rd"):
            return f"{insn.kind} in a branch's defer slot runs on the executor"
        if insn.kind == "mem" and insn.defer and any(s in branch_slots for s in range(pc, pc + insn.defer + 1)):
            return "a deferred memory command in a branch's defer slots runs on the executor"
    return None


# -- the compiler ---------------------------------------------------------------------------------
class _FwAdapter:
    """What runtime/jit/maps.py's emitters expect of their translator: the env, the module,
    and a memory model that turns a helper's argument into a host pointer (ours already are)."""

    def __init__(self, module, env):
        self.module, self.env = module, env
        self.memory = self

    def access(self, t, b, insn, addr, size, write=False, helper=False):
        return b.inttoptr(addr, I8P)


@dataclass
class _Site:
    pc: int


class _Compiler:
    def __init__(self, image: Image, shapes, sizes):
        self.image = image
        self.shapes = shapes  # per map id: its native layout, or None (a perf event array: no storage)
        self.key_sizes, self.value_sizes = [k for k, _ in sizes], [v for _, v in sizes]
        self.insns = image.insns
        self.base_addr = image.load_address
        self.K = abi.REGS_PER_BANK[image.contexts]
        self.card = image.abi == "card"  # else the what-if's own ABI (firmware.py)
        # the kernel image's registers hold POISON until written (it reads stale ones, as on the card);
        # the what-if's are "unwritten", and reading one is a violation (Executor.clobber_value)
        kernel = image.allocator == "kernel"
        self.start_written = kernel and self.card  # Executor._reset_thread's start value is not None
        self.clobbered_value = c32(abi.POISON)
        self.clobber_written = kernel  # Executor.clobber_value is not None
        self.checked = not (self.start_written and self.clobber_written)
        self.module = backend.new_module(f"nfp_{image.program}")
        self.memset = self.module.declare_intrinsic("llvm.memset", [I8P, I64])
        self.memcpy = self.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
        self.bswap = self.module.declare_intrinsic("llvm.bswap", [I32])
        memcmp = ir.Function(self.module, ir.FunctionType(I32, [I8P, I8P, I64]), name="memcmp")
        self.memcmp = memcmp

    # == the firmware's map routines ==========================================================
    def _routines(self):
        """i64 fw_<routine>(jenv*, map id, key*, value*, flags): the card's map routines."""
        fns = {}
        for name in ROUTINE_NAMES:
            fn = ir.Function(self.module, ir.FunctionType(I64, [I8P, I64, I64, I64, I64]), name=f"fw_{name}")
            fn.linkage = "internal"
            jenv, mid, key, value, flags = fn.args
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            t = _FwAdapter(self.module, jenv)
            bad = fn.append_basic_block("no_map")
            ir.IRBuilder(bad).ret(c64(1 << 63))  # a marker the caller turns into V_NO_MAP
            switch = b.switch(mid, bad)
            for map_id, shape in enumerate(self.shapes):
                if shape is None:
                    continue
                block = fn.append_basic_block(f"map{map_id}")
                switch.add_case(c64(map_id), block)
                mb = ir.IRBuilder(block)
                site = _Site(map_id)
                if name == "map_lookup":
                    mb.ret(self._lookup(t, mb, site, shape, map_id, key))
                elif name == "map_update":
                    mb.ret(_update(t, mb, site, shape, [None, key, value, flags]))
                else:
                    result = _delete(t, mb, site, shape, [None, key])
                    mb.ret(result)
            fns[name] = fn
        return fns

    def _lookup(self, t, b, site, shape, map_id, key):
        fn = b.function
        hit = fn.append_basic_block("hit")
        done = fn.append_basic_block("done")
        keyp = b.inttoptr(key, I8P)
        if shape.is_hash:
            found, slot, _ptr, _home = _hash_find(t, b, site, shape, keyp)
            miss = b.block
            b.cbranch(found, hit, done)
            b.position_at_end(hit)
            offset = _hash_value_offset(b, shape, slot)
        else:
            index = b.zext(b.load(b.bitcast(keyp, I32.as_pointer()), align=1), I64)
            miss = b.block
            b.cbranch(b.icmp_unsigned("<", index, c64(shape.entries)), hit, done)
            b.position_at_end(hit)
            offset = b.mul(index, c64(shape.value_stride))
        address = b.or_(c64(EMEM_BASE | map_id << EMEM_MAP_SHIFT), offset)
        b.branch(done)
        return join(b, done, [(c64(0), miss), (address, hit)])

    # == the image ==============================================================================
    def build(self):
        fw = self._routines()
        fn = ir.Function(self.module, ir.FunctionType(I64, [I8P, I8P, I64, I64]), name="nfp_batch")
        env, jenv, start, end = fn.args
        self.fn, self.env, self.jenv, self.fw = fn, env, jenv, fw
        entry = fn.append_basic_block("entry")
        b = self.b = ir.IRBuilder(entry)
        self.entry = entry
        # per-run machine state: locals LLVM promotes to registers
        self.regs = {(bank, n): b.alloca(I32, name=f"{bank}{n}") for bank in "AB" for n in range(self.K)}
        self.written = {key: b.alloca(I1, name=f"w{key[0]}{key[1]}") for key in self.regs} if self.checked else {}
        names = ("z", "n", "c", "v", "prev_alu", "prev_alu_ok", "prev_a", "prev_a_ok", "xin_ok", "xin_pend",
                 "xout_ok", "lm_set", "jump_at", "jump_to", "cur_pc", "thread",
                 "mul_on", "mul_type", "mul_steps", "mul_done", "mul_a", "mul_b", "latch_on", "latch", "dmem_from")
        self.v = {name: b.alloca(I32, name=name) for name in names}
        self.xin = [b.alloca(I32, name=f"xin{k}") for k in range(32)]
        self.xin_sig = [b.alloca(I32, name=f"xsig{k}") for k in range(32)]
        self.xout = [b.alloca(I32, name=f"xout{k}") for k in range(32)]
        self.lm_ptr = [b.alloca(I64, name=f"lmp{k}") for k in range(4)]
        self.lm_ready = [b.alloca(I64, name=f"lmr{k}") for k in range(4)]
        self.counts = {name: b.alloca(I64, name=name) for name in ("step", "stall", "ctm", "emem", *FW_COUNTED)}
        self.area = lm_area_bytes(self.image.contexts)
        self.lm = b.alloca(ir.ArrayType(I8, self.area), name="lm")
        self.lm8 = b.bitcast(self.lm, I8P)
        self.index = b.alloca(I64, name="i")
        self.lm_base = b.alloca(I64, name="lm_base")
        self.frame_len = b.alloca(I64, name="frame_len")
        self.ctm_shift = b.alloca(I64, name="ctm_shift")
        self.xdata = b.alloca(I64, name="xdp_data")  # the what-if: xdp.data / data_end, frame offsets
        self.xend = b.alloca(I64, name="xdp_data_end")
        # a deferred memory command's address and previous ALU result, per command, until it moves
        self.deferred = {pc: (b.alloca(I64, name=f"dmem_addr{pc}"), b.alloca(I32, name=f"dmem_prev{pc}"))
                         for pc, insn in enumerate(self.insns) if insn.kind == "mem" and insn.defer}
        self.finish_at: dict[int, list[int]] = {}
        for pc in self.deferred:
            self.finish_at.setdefault(pc + self.insns[pc].defer, []).append(pc)
        b.store(start, self.index)
        head = fn.append_basic_block("head")
        b.branch(head)
        self.exit_block = fn.append_basic_block("finish")
        ir.IRBuilder(self.exit_block).ret(end)
        b.position_at_end(head)
        i = b.load(self.index)
        body = fn.append_basic_block("packet")
        b.cbranch(b.icmp_unsigned("<", i, end), body, self.exit_block)
        b.position_at_end(body)
        self.stop_before = fn.append_basic_block("stop_before")
        sb = ir.IRBuilder(self.stop_before)
        sb.ret(sb.load(self.index))
        self.blocks = [fn.append_basic_block(f"pc{pc}") for pc in range(len(self.insns))]
        self.done = fn.append_basic_block("done")  # DONE_OFF (the card) or fw.exit (the what-if): the verdict
        self.stopped = fn.append_basic_block("stopped")  # a fault or a violation
        self.dispatch = fn.append_basic_block("dispatch")  # a computed branch target in jump_to
        self.record = fn.append_basic_block("record")  # the packet's results, from every way it ends
        self.exits: list[tuple] = []  # (retval, data offset, length, queue, block) into record
        self._prologue()
        for pc, insn in enumerate(self.insns):
            self.b = ir.IRBuilder(self.blocks[pc])
            self.pc = pc
            self._insn(pc, insn)
        self._dispatch()
        self._epilogue(head)
        return self.module

    # -- helpers -----------------------------------------------------------------------------
    def ld(self, name):
        return self.b.load(self.v[name])

    def st(self, name, value):
        if value.type != I32:
            value = self.b.zext(value, I32) if value.type.width < 32 else self.b.trunc(value, I32)
        self.b.store(value, self.v[name])

    def bump(self, name, by=1):
        p = self.counts[name]
        self.b.store(self.b.add(self.b.load(p), c64(by)), p)

    def violation(self, code, pc=None, cond=None):
        """Stop the packet with violation `code` (when `cond` holds).  No pc and none compiling
        (firmware routines): the last instruction run (cur_pc), as the executor's _pc."""
        b = self.b
        if cond is None:
            self._stop(Stop.VIOLATION, code, self.pc if pc is None else pc)
            return
        bad = self.fn.append_basic_block("violation")
        ok = self.fn.append_basic_block("ok")
        b.cbranch(cond, bad, ok, )
        self.b = ir.IRBuilder(bad)
        self._stop(Stop.VIOLATION, code, self.pc if pc is None else pc)
        self.b = ir.IRBuilder(ok)

    def _stop(self, kind, code, pc, addr=None, size=None):
        b, env = self.b, self.env
        if pc is None:
            pc = b.zext(self.ld("cur_pc"), I64)
        stop_pc = pc if isinstance(pc, ir.Value) else c64(int(pc))
        NENV.store(b, env, "stop_kind", c64(kind))
        NENV.store(b, env, "stop_code", c64(code))
        NENV.store(b, env, "stop_pc", stop_pc)
        NENV.store(b, env, "stop_addr", addr if addr is not None else c64(0))
        NENV.store(b, env, "stop_size", size if size is not None else c64(0))
        b.branch(self.stopped)

    # -- operands ----------------------------------------------------------------------------
    def read(self, op):
        b = self.b
        kind = type(op)
        if kind is Gpr:
            if self.checked:
                self.violation(V_UNWRITTEN, cond=b.not_(b.load(self.written[(op.bank, op.index)])))
            return self.b.load(self.regs[(op.bank, op.index)])
        if kind is NN:
            return b.load(self._nn(op.index))
        if kind is Imm:
            return c32(op.value)
        if kind is Lm:
            address = self._lm_address(op)
            return self.b.load(self._lm_word(address))
        if kind is Xfer:
            bit = c32(1 << op.index)
            self.violation(V_XIN_PENDING, cond=b.icmp_unsigned("!=", b.and_(self.ld("xin_pend"), bit), c32(0)))
            b = self.b
            self.violation(V_XIN_EMPTY, cond=b.icmp_unsigned("==", b.and_(self.ld("xin_ok"), bit), c32(0)))
            return self.b.load(self.xin[op.index])
        raise Unsupported(f"reading {op}")

    def write(self, op, value):
        b = self.b
        kind = type(op)
        if kind is Gpr:
            for bank in ("A", "B") if op.bank == "AB" else (op.bank,):
                b.store(value, self.regs[(bank, op.index)])
                if self.checked:
                    b.store(ir.Constant(I1, 1), self.written[(bank, op.index)])
        elif kind is NN:
            b.store(value, self._nn(op.index))
        elif kind is Lm:
            address = self._lm_address(op)
            self.b.store(value, self._lm_word(address))
        elif kind is Xfer:
            b.store(value, self.xout[op.index])
            self.st("xout_ok", b.or_(self.ld("xout_ok"), c32(1 << op.index)))
        elif op is not NONE:
            raise Unsupported(f"writing {op}")

    def _nn(self, index):
        return self.b.gep(self.b.inttoptr(NENV.load(self.b, self.env, "nn"), I32.as_pointer()), [c64(index)])

    def clobber(self, indices, value):
        """A routine's clobbered registers: POISON (the kernel image) or unwritten (the what-if)."""
        for n in indices:
            if n < self.K:
                for bank in "AB":
                    self.b.store(value, self.regs[(bank, n)])
                    if self.checked:
                        self.b.store(ir.Constant(I1, int(self.clobber_written)), self.written[(bank, n)])

    def read_dst(self, op):
        if type(op) is Gpr and op.bank == "AB":
            a, bb = self.read(Gpr("A", op.index)), self.read(Gpr("B", op.index))
            self.violation(V_AB_DIFFERS, cond=self.b.icmp_unsigned("!=", a, bb))
            return a
        return self.read(op)

    def _lm_address(self, op: Lm):
        b = self.b
        self.violation(V_LM_UNSET, cond=b.icmp_unsigned("==", b.and_(self.ld("lm_set"), c32(1 << op.ptr)), c32(0)))
        b = self.b
        early = b.icmp_unsigned("<", b.load(self.counts["step"]), b.load(self.lm_ready[op.ptr]))
        self.violation(V_LM_EARLY, cond=early)
        b = self.b
        pointer = b.load(self.lm_ptr[op.ptr])
        address = b.add(pointer, c64(4 * op.offset))
        if op.mode:
            b.store(b.add(pointer, c64(4 if op.mode == "++" else -4)), self.lm_ptr[op.ptr])
        self._check_lm(address, 4)
        return address

    def _check_lm(self, address, size):
        """address is inside this thread's area (and 4-byte aligned: the CSR drops the low bits)."""
        b = self.b
        base = b.load(self.lm_base)
        outside = b.or_(b.icmp_unsigned("<", address, base),
                        b.icmp_unsigned(">", b.add(address, size if isinstance(size, ir.Value) else c64(size)),
                                        b.add(base, c64(self.area))))
        outside = b.or_(outside, b.icmp_unsigned("!=", b.and_(address, c64(3)), c64(0)))
        self.violation(V_LM_AREA, cond=outside)

    def _lm_word(self, address):
        b = self.b
        at = b.sub(address, b.load(self.lm_base))
        return b.bitcast(b.gep(self.lm8, [at]), I32.as_pointer())

    def _context_swapped(self):
        self.st("prev_alu_ok", c32(0))
        self.st("prev_a_ok", c32(0))

    # -- instructions ------------------------------------------------------------------------
    def _insn(self, pc, insn: NfpInsn):
        if pc and self.insns[pc - 1].kind == "mul_step" and insn.kind != "mul_step":
            self._end_multiplication()
        self.bump("step")
        if insn.is_branch:
            self._branch(pc, insn)
            return
        getattr(self, f"_{insn.kind}")(insn)
        for mem_pc in self.finish_at.get(pc, ()):  # a deferred command moves after its last slot
            self._finish_deferred(mem_pc)
        self._fall_through(pc)

    def _end_multiplication(self):
        """Executor._loop: another instruction after a mul_step ends the sequence, which must have
        given its result by then."""
        b = self.b
        on = b.icmp_unsigned("!=", self.ld("mul_on"), c32(0))
        self.violation(V_MUL_INTERRUPTED, cond=b.and_(on, b.icmp_unsigned("==", self.ld("mul_done"), c32(0))))
        self.st("mul_on", c32(0))

    def _fall_through(self, pc):
        """After a non-branch: land a deferred branch whose last slot this is, else the next pc."""
        b = self.b
        if pc in self.last_slots:
            land = self.fn.append_basic_block(f"land{pc}")
            nxt = self.blocks[pc + 1] if pc + 1 < len(self.insns) else self._off_end(pc)
            b.cbranch(b.icmp_signed("==", self.ld("jump_at"), c32(pc)), land, nxt)
            self.b = ir.IRBuilder(land)
            self.st("jump_at", c32(-1))
            self._land_deferred(pc)
        elif pc + 1 < len(self.insns):
            b.branch(self.blocks[pc + 1])
        else:
            b.branch(self._off_end(pc))

    def _land_deferred(self, pc):
        """The last defer slot of a taken branch: to the targets the branches deferring here name
        (a switch LLVM sees through), else the computed target through the dispatch."""
        b = self.b
        self.st("cur_pc", c32(pc))
        steps = b.load(self.counts["step"])
        self.violation(V_STEPS, pc, b.icmp_unsigned(">=", steps, c64(MAX_STEPS)))
        b = self.b
        switch = b.switch(self.ld("jump_to"), self.dispatch)
        for address in sorted(self.deferred_targets.get(pc, ())):
            switch.add_case(c32(address), self.blocks[address - self.base_addr])

    def _off_end(self, pc):
        block = self.fn.append_basic_block("off_end")
        saved = self.b
        self.b = ir.IRBuilder(block)
        self.violation(V_BAD_BRANCH, pc)
        self.b = saved
        return block

    def _land(self, target, pc):
        """A taken branch arrives at `target` (an address): into the image or the firmware."""
        b = self.b
        self.st("cur_pc", c32(pc))
        steps = b.load(self.counts["step"])
        self.violation(V_STEPS, pc, b.icmp_unsigned(">=", steps, c64(MAX_STEPS)))
        b = self.b
        if isinstance(target, ir.Constant):
            address = target.constant
            if self.base_addr <= address < self.base_addr + len(self.insns):
                b.branch(self.blocks[address - self.base_addr])
                return
        self.st("jump_to", target)
        b.branch(self.dispatch)

    def _branch(self, pc, insn):
        b = self.b
        if insn.kind == "br":
            taken = self._condition(insn.op)
            target = c32(insn.target)
        elif insn.kind == "br_bit":
            value = self.read(insn.a)
            b = self.b
            bit = b.and_(b.lshr(value, c32(insn.value)), c32(1))
            taken = b.icmp_unsigned("==", bit, c32(1 if insn.op == "br_bset" else 0))
            target = c32(insn.target)
        elif insn.kind == "rtn":
            taken, target = ir.Constant(I1, 1), self.read(insn.a)
        else:  # jump: a table at target + a
            offset = self.read(insn.a)
            taken, target = ir.Constant(I1, 1), self.b.add(c32(insn.target), offset)
        b = self.b
        yes = self.fn.append_basic_block(f"taken{pc}")
        no = self.blocks[pc + 1] if pc + 1 < len(self.insns) else self._off_end(pc)
        if isinstance(taken, ir.Constant):
            b.branch(yes)
        else:
            b.cbranch(taken, yes, no)
        self.b = ir.IRBuilder(yes)
        if insn.defer:
            self.st("jump_at", c32(pc + insn.defer))
            self.st("jump_to", target)
            self.bump("stall", max(0, BRANCH_STALL - insn.defer))
            self.b.branch(self.blocks[pc + 1])
        else:
            self.bump("stall", BRANCH_STALL)
            self._land(target, pc)

    def _condition(self, op):
        b = self.b
        z, n, c, v = (b.icmp_unsigned("!=", self.ld(x), c32(0)) for x in "zncv")
        true = ir.Constant(I1, 1)
        table = {
            "beq": lambda: z, "bne": lambda: b.not_(z), "bmi": lambda: n, "bpl": lambda: b.not_(n),
            "bhs": lambda: c, "blo": lambda: b.not_(c), "bvs": lambda: v, "bvc": lambda: b.not_(v),
            "bge": lambda: b.icmp_unsigned("==", n, v), "blt": lambda: b.icmp_unsigned("!=", n, v),
            "bgt": lambda: b.and_(b.not_(z), b.icmp_unsigned("==", n, v)),
            "ble": lambda: b.or_(z, b.icmp_unsigned("!=", n, v)), "br": lambda: true,
        }
        return table[op]()

    def _set_cc(self, result, c=None, v=None):
        b = self.b
        self.st("z", b.icmp_unsigned("==", result, c32(0)))
        self.st("n", b.lshr(result, c32(31)))
        self.st("c", c if c is not None else c32(0))
        self.st("v", v if v is not None else c32(0))

    def _a_field_is_b(self, insn):
        """Whether the word holds the sources swapped: the A field (the next indirect shift's
        amount) then holds the second source."""
        return sources_swapped(insn)

    def _alu(self, i):
        b = self.b
        a = c32(0) if i.op in ALU_IGNORES_A else self.read(i.a)
        bv = self.read(i.b)
        b = self.b
        self.st("prev_a", bv if self._a_field_is_b(i) else a)
        self.st("prev_a_ok", c32(1))
        a64, b64 = b.zext(a, I64), b.zext(bv, I64)
        carry_in = b.zext(self.ld("c"), I64)
        op = i.op
        raw = {
            "B": lambda: b64, "+": lambda: b.add(a64, b64), "+8": lambda: b.add(b.and_(a64, c64(0xFF)), b64),
            "B-A": lambda: b.sub(b64, a64), "~B": lambda: b.xor(b64, c64(MASK32)),
            "+16": lambda: b.add(b.and_(a64, c64(0xFFFF)), b.and_(b64, c64(0xFFFF))),
            "AND": lambda: b.and_(a64, b64), "~AND": lambda: b.and_(b.xor(a64, c64(MASK32)), b64),
            "-carry": lambda: b.sub(b.sub(a64, b64), b.sub(c64(1), carry_in)),
            "AND~": lambda: b.and_(a64, b.xor(b64, c64(MASK32))), "+carry": lambda: b.add(b.add(a64, b64), carry_in),
            "OR": lambda: b.or_(a64, b64), "-": lambda: b.sub(a64, b64), "XOR": lambda: b.xor(a64, b64),
        }[op]()
        if op == "+16":
            result = b.trunc(b.and_(raw, c64(0xFFFF)), I32)
            carry = b.trunc(b.lshr(raw, c64(16)), I32)
        else:
            result = b.trunc(raw, I32)
            if op in ("-", "-carry", "B-A"):
                carry = b.zext(b.icmp_signed(">=", raw, c64(0)), I32)
            else:
                carry = b.trunc(b.and_(b.lshr(raw, c64(32)), c64(1)), I32)
        if op in ALU_ARITH:
            if op in ("-", "-carry", "B-A"):
                x, y = (bv, a) if op == "B-A" else (a, bv)
                v = b.lshr(b.and_(b.xor(x, y), b.xor(x, result)), c32(31))
            else:
                v = b.lshr(b.and_(b.xor(a, result), b.xor(bv, result)), c32(31))
            self._set_cc(result, carry, v)
        else:
            self._set_cc(result)
        self.st("prev_alu", result)
        self.st("prev_alu_ok", c32(1))
        self.write(i.dst, result)

    def _shift_amount(self, shift):
        if shift.amount is not None:
            return c64(shift.amount)
        self.violation(V_NO_PREV_A, cond=self.b.icmp_unsigned("==", self.ld("prev_a_ok"), c32(0)))
        return self.b.zext(self.b.and_(self.ld("prev_a"), c32(31)), I64)

    def _shifted(self, shift, bv, a=None, arith=False):
        if shift is None:
            return bv
        n = self._shift_amount(shift)
        b = self.b
        b64 = b.zext(bv, I64)
        kind = shift.kind
        if kind == ">>rot":
            rot = b.or_(b.lshr(b64, n), b.shl(b64, b.sub(c64(32), n)))
            out = b.select(b.icmp_unsigned("==", n, c64(0)), b64, rot)
        elif kind == "<<":
            out = b.shl(b64, n)
        elif kind == ">>dbl":
            out = b.lshr(b.or_(b.shl(b.zext(a, I64), c64(32)), b64), n)
        elif arith:
            self.violation(V_NO_PREV_ALU, cond=self.b.icmp_unsigned("==", self.ld("prev_alu_ok"), c32(0)))
            b = self.b
            sign = b.lshr(self.ld("prev_alu"), c32(31))
            fill = b.and_(b.shl(c64(MASK32), b.sub(c64(32), n)), c64(MASK32))
            fill = b.select(b.and_(b.icmp_unsigned("!=", sign, c32(0)), b.icmp_unsigned("!=", n, c64(0))), fill, c64(0))
            out = b.or_(b.lshr(b64, n), fill)
        else:
            out = b.lshr(b64, n)
        return self.b.trunc(out, I32)

    def _alu_shf(self, i):
        bv = self.read(i.b)
        dbl = i.shift is not None and i.shift.kind == ">>dbl"
        a = c32(0) if shf_reads_b_only(i.op, i.shift) else self.read(i.a)
        shifted = self._shifted(i.shift, bv, a, arith=i.op == "ASR")
        b = self.b
        self.st("prev_a", bv if self._a_field_is_b(i) else a)
        self.st("prev_a_ok", c32(1))
        result = {"B": lambda: shifted, "ASR": lambda: shifted, "AND": lambda: b.and_(a, shifted),
                  "OR": lambda: b.or_(a, shifted)}[i.op]()
        if dbl and i.op != "B":
            self.violation(V_DBL)
            self.b = ir.IRBuilder(self.fn.append_basic_block("dead"))
        self._set_cc(result)
        self.st("prev_alu", result)
        self.st("prev_alu_ok", c32(1))
        self.write(i.dst, result)

    def _ld_field(self, i):
        src = self._shifted(i.shift, self.read(i.b))
        mask = sum(0xFF << (8 * k) for k in range(4) if i.value >> k & 1)
        old = c32(0) if i.width == "w_clr" else self.read_dst(i.dst)
        b = self.b
        value = b.or_(b.and_(old, c32(~mask & MASK32)), b.and_(src, c32(mask)))
        self.st("prev_alu", value)
        self.st("prev_alu_ok", c32(1))
        self.write(i.dst, value)

    def _immed(self, i):
        if self.pc and self.insns[self.pc - 1].kind == "csr_rd":  # local_csr_rd's value arrives here
            b = self.b
            latched = self.fn.append_basic_block("latched")
            plain = self.fn.append_basic_block("plain")
            joined = self.fn.append_basic_block("immed_done")
            b.cbranch(b.icmp_unsigned("!=", self.ld("latch_on"), c32(0)), latched, plain)
            self.b = ir.IRBuilder(latched)
            self.st("latch_on", c32(0))
            self.write(i.dst, self.ld("latch"))
            self.b.branch(joined)
            self.b = ir.IRBuilder(plain)
            self._plain_immed(i)
            self.b.branch(joined)
            self.b = ir.IRBuilder(joined)
            return
        self._plain_immed(i)

    def _plain_immed(self, i):
        value, mask = immed_value(i)
        if i.target is not None:
            value, mask = i.target, MASK32
        old = self.read_dst(i.dst) if i.width else c32(0)
        b = self.b
        result = b.or_(b.and_(old, c32(~mask & MASK32)), c32(value))
        for name in ("prev_alu", "prev_a"):
            self.st(name, result)
            self.st(f"{name}_ok", c32(1))
        self.write(i.dst, result)

    def _nop(self, i):
        return None

    def _csr_wr(self, i):
        value = self.read(i.b)
        b = self.b
        if i.op.startswith("ACT_LM_ADDR"):
            ptr = int(i.op[-1])
            b.store(b.zext(b.and_(value, c32(~3 & MASK32)), I64), self.lm_ptr[ptr])
            self.st("lm_set", b.or_(self.ld("lm_set"), c32(1 << ptr)))
            b.store(b.add(b.load(self.counts["step"]), c64(CSR_WRITE_LATENCY)), self.lm_ready[ptr])
        elif i.op != "PSEUDO_RND_NUM":
            self.violation(V_CSR_WR)
            self.b = ir.IRBuilder(self.fn.append_basic_block("dead"))

    def _csr_rd(self, i):
        """Executor._csr_rd: the value waits in the latch for the immed after it."""
        b = self.b
        if i.op == "PSEUDO_RND_NUM":
            value = self._prandom()
        elif i.op.startswith("ACT_LM_ADDR"):
            value = b.trunc(b.load(self.lm_ptr[int(i.op[-1])]), I32)
        elif i.op == "CTX_PTR":
            value = self.ld("thread")
        else:
            self.violation(V_CSR_RD)
            self.b = ir.IRBuilder(self.fn.append_basic_block("dead"))
            return
        self.st("latch", value)
        self.st("latch_on", c32(1))

    def _prandom(self):
        """runtime Services.prandom_u32: splitmix64's next output, its high 32 bits."""
        b = self.b
        state = b.add(NENV.load(b, self.env, "rng"), c64(0x9E3779B97F4A7C15))
        NENV.store(b, self.env, "rng", state)
        z = b.mul(b.xor(state, b.lshr(state, c64(30))), c64(0xBF58476D1CE4E5B9))
        z = b.mul(b.xor(z, b.lshr(z, c64(27))), c64(0x94D049BB133111EB))
        return b.trunc(b.lshr(b.xor(z, b.lshr(z, c64(31))), c64(32)), I32)

    def _mul_step(self, i):
        """Executor._mul_step: the sequence's state in locals, its rules checked as it runs."""
        if i.op == "start":
            a, bv = self.read(i.a), self.read(i.b)
            for name, value in (("mul_a", a), ("mul_b", bv), ("mul_on", c32(1)), ("mul_type", c32(0)),
                                ("mul_steps", c32(0)), ("mul_done", c32(0))):
                self.st(name, value)
            return
        kind, _, step = i.op.partition("_")
        b = self.b
        self.violation(V_MUL_NO_START, cond=b.icmp_unsigned("==", self.ld("mul_on"), c32(0)))
        b = self.b
        current = self.ld("mul_type")
        same = b.or_(b.icmp_unsigned("==", current, c32(0)), b.icmp_unsigned("==", current, c32(MUL_KINDS[kind])))
        self.violation(V_MUL_TYPE, cond=b.not_(same))
        self.st("mul_type", c32(MUL_KINDS[kind]))
        if step.startswith("step"):
            a, bv = self.read(i.a), self.read(i.b)
            b = self.b
            changed = b.or_(b.icmp_unsigned("!=", a, self.ld("mul_a")), b.icmp_unsigned("!=", bv, self.ld("mul_b")))
            self.violation(V_MUL_OPERANDS, cond=changed)
            b = self.b
            self.violation(V_MUL_ORDER, cond=b.icmp_unsigned("!=", self.ld("mul_steps"), c32(int(step[4:]) - 1)))
            self.st("mul_steps", c32(int(step[4:])))
            return
        b = self.b
        self.violation(V_MUL_COUNT, cond=b.icmp_unsigned("!=", self.ld("mul_steps"), c32(MUL_STEP_COUNT[kind])))
        b = self.b
        a, bv = b.zext(self.ld("mul_a"), I64), b.zext(self.ld("mul_b"), I64)
        masks = {"32x32": (MASK32, MASK32), "16x16": (0xFFFF, 0xFFFF), "24x8": (0xFFFFFF, 0xFF)}[kind]
        product = b.mul(b.and_(a, c64(masks[0])), b.and_(bv, c64(masks[1])))
        if step == "last":
            self.write(i.dst, b.trunc(product, I32))
            self.st("mul_done", c32(1))
            if kind != "32x32":
                self.st("mul_on", c32(0))
        elif step == "last2" and kind == "32x32":
            self.write(i.dst, b.trunc(b.lshr(product, c64(32)), I32))
            self.st("mul_on", c32(0))
        else:
            self.violation(V_MUL_LAST2)
            self.b = ir.IRBuilder(self.fn.append_basic_block("dead"))

    def _ctx_arb(self, i):
        b = self.b
        pend = self.ld("xin_pend")
        for k in range(32):
            clear = b.icmp_unsigned("==", b.load(self.xin_sig[k]), c32(i.sig))
            pend = b.select(clear, b.and_(pend, c32(~(1 << k) & MASK32)), pend)
        self.st("xin_pend", pend)
        self._context_swapped()

    # -- memory commands -----------------------------------------------------------------------
    def _mem(self, i):
        a, bv = self.read(i.a), self.read(i.b)
        b = self.b
        a64, b64 = b.zext(a, I64), b.zext(bv, I64)
        if i.mode == "40b_BA":
            address = b.or_(b.shl(b.and_(b64, c64(0xFF)), c64(32)), a64)
        elif i.mode == "40b_AB":
            address = b.or_(b.shl(b.and_(a64, c64(0xFF)), c64(32)), b64)
        else:
            address = b.and_(b.add(a64, b64), c64(MASK32))
        _, _, direction, unit = MEM_COMMANDS[i.op]
        prev = self.ld("prev_alu")
        if i.indirect:
            ok = b.and_(b.icmp_unsigned("!=", self.ld("prev_alu_ok"), c32(0)),
                        b.icmp_unsigned("!=", b.and_(prev, c32(CMD_OVE_LEN)), c32(0)))
            self.violation(V_NO_OVE_LEN, cond=b.not_(ok))
            b = self.b
            if i.op != "add_imm":
                length = b.add(b.and_(b.lshr(prev, c32(CMD_OV_LEN_SHIFT)), c32(CMD_OV_LEN_MASK)), c32(1))
                self.violation(V_LEN_MISMATCH, cond=b.icmp_unsigned("!=", length, c32(i.value)))
                b = self.b
        if i.defer:  # the transfer registers are filled in the defer slots: the data moves after them
            issued = int(self.pc or 0)  # compiling an instruction: its pc
            where, latched = self.deferred[issued]
            b.store(address, where)
            b.store(prev, latched)
            self.st("dmem_from", c32(issued))
            return
        self._move(i, address, prev)
        if i.sync.startswith("ctx_swap"):
            self._context_swapped()

    def _finish_deferred(self, mem_pc):
        """Executor._finish_mem of the deferred command at `mem_pc`, if it is the one in flight."""
        b = self.b
        moving = self.fn.append_basic_block("dmem_moves")
        after = self.fn.append_basic_block("dmem_after")
        b.cbranch(b.icmp_signed("==", self.ld("dmem_from"), c32(mem_pc)), moving, after)
        self.b = ir.IRBuilder(moving)
        self.st("dmem_from", c32(-1))
        where, latched = self.deferred[mem_pc]
        insn = self.insns[mem_pc]
        self._move(insn, self.b.load(where), self.b.load(latched))
        if insn.sync.startswith("ctx_swap"):
            self._context_swapped()
        self.b.branch(after)
        self.b = ir.IRBuilder(after)

    def _move(self, i, address, prev):
        """The data of memory command `i` moves (Executor._finish_mem)."""
        b = self.b
        _, _, direction, unit = MEM_COMMANDS[i.op]
        little = i.op in MEM_LITTLE_ENDIAN
        if i.op in ("add", "add_imm"):
            if i.op == "add_imm":
                width = b.select(b.icmp_unsigned("!=", b.and_(prev, c32(1 << (CMD_OV_LEN_SHIFT + 2))), c32(0)),
                                 c64(8), c64(4))
                addend = b.zext(b.and_(b.lshr(prev, c32(16)), c32(0xFFFF)), I64)
                self._atomic(address, width, addend)
            else:
                nbytes = 4 * i.value
                words = [self._xout(i.dst.index + k) for k in range(i.value)]
                addend = c64(0)
                for k, word in enumerate(words[:2]):
                    addend = self.b.or_(addend, self.b.shl(self.b.zext(word, I64), c64(32 * k)))
                if nbytes not in (4, 8):
                    raise Unsupported("atomic add of other than 4 or 8 bytes")
                self._atomic(address, c64(nbytes), addend)
        else:
            nbytes = i.value if unit == "byte" else 4 * i.value
            host = self._memory(address, c64(nbytes))
            b = self.b
            words = (nbytes + 3) // 4
            if direction == "write":
                values = [self._xout(i.dst.index + k) for k in range(words)]
                b = self.b
                tmp = self._alloca(ir.ArrayType(I32, words))
                for k, word in enumerate(values):
                    b.store(word if little else b.call(self.bswap, [word]), b.gep(tmp, [c32(0), c32(k)]))
                b.call(self.memcpy, [host, b.bitcast(tmp, I8P), c64(nbytes), ir.Constant(I1, 0)])
                self._dirty(address, nbytes)
            else:
                tmp = self._alloca(ir.ArrayType(I32, words))
                tmp8 = b.bitcast(tmp, I8P)
                if nbytes % 4:
                    b.call(self.memset, [tmp8, ir.Constant(I8, 0), c64(4 * words), ir.Constant(I1, 0)])
                b.call(self.memcpy, [tmp8, host, c64(nbytes), ir.Constant(I1, 0)])
                ok, pend = self.ld("xin_ok"), self.ld("xin_pend")
                for k in range(words):
                    idx = i.dst.index + k
                    word = b.load(b.gep(tmp, [c32(0), c32(k)]))
                    b.store(word if little else b.call(self.bswap, [word]), self.xin[idx])
                    ok = b.or_(ok, c32(1 << idx))
                    if i.sync == "sig_done":
                        pend = b.or_(pend, c32(1 << idx))
                        b.store(c32(i.sig), self.xin_sig[idx])
                    else:
                        pend = b.and_(pend, c32(~(1 << idx) & MASK32))
                self.st("xin_ok", ok)
                self.st("xin_pend", pend)

    def _alloca(self, ty):
        """A scratch buffer in the entry block (an alloca in the packet loop would grow the stack)."""
        at = ir.IRBuilder(self.entry)
        at.position_at_start(self.entry)
        return at.alloca(ty)

    def _xout(self, index):
        b = self.b
        self.violation(V_XOUT_EMPTY, cond=b.icmp_unsigned("==", b.and_(self.ld("xout_ok"), c32(1 << index)), c32(0)))
        return self.b.load(self.xout[index])

    def _atomic(self, address, width, addend):
        host = self._memory(address, width)
        self._dirty(address, 8)
        b = self.b
        p64 = b.bitcast(host, I64.as_pointer())
        p32 = b.bitcast(host, I32.as_pointer())
        wide = b.icmp_unsigned("==", width, c64(8))
        with b.if_else(wide) as (then, otherwise):
            with then:
                b.store(b.add(b.load(p64, align=1), addend), p64, align=1)
            with otherwise:
                b.store(b.add(b.load(p32, align=1), b.trunc(addend, I32)), p32, align=1)

    def _memory(self, address, size, count=True):
        """Host pointer for `size` bytes at a card address (Executor._memory), counting the
        command by target (not a routine's reads); a fault stops the packet as _MemFault does."""
        b = self.b
        fn = self.fn
        emem = fn.append_basic_block("emem")
        ctm = fn.append_basic_block("ctm")
        fault = fn.append_basic_block("memfault")
        ctm_check = fn.append_basic_block("ctm_check")
        out = fn.append_basic_block("mem_ok")
        b.cbranch(b.icmp_unsigned(">=", address, c64(EMEM_BASE)), emem, ctm_check)
        eb = ir.IRBuilder(emem)
        index = eb.lshr(eb.sub(address, c64(EMEM_BASE)), c64(EMEM_MAP_SHIFT))
        offset = eb.and_(address, c64((1 << EMEM_MAP_SHIFT) - 1))
        table = eb.inttoptr(NENV.load(eb, self.env, "maps"), I64.as_pointer())
        known = eb.icmp_unsigned("<", index, c64(len(self.shapes)))
        safe = eb.select(known, index, c64(0))
        buf = eb.load(eb.gep(table, [eb.mul(safe, c64(2))]))
        length = eb.load(eb.gep(table, [eb.add(eb.mul(safe, c64(2)), c64(1))]))
        fits = eb.and_(known, eb.icmp_unsigned("<=", eb.add(offset, size), length))
        if not self.shapes:
            fits = ir.Constant(I1, 0)
        emem_host = eb.add(buf, offset)
        emem_end = eb.block
        emem_ok = fn.append_basic_block("emem_ok")
        eb.cbranch(fits, emem_ok, fault)
        ob = ir.IRBuilder(emem_ok)
        if count:
            p = self.counts["emem"]
            ob.store(ob.add(ob.load(p), c64(1)), p)
        ob.branch(out)
        cb = ir.IRBuilder(ctm_check)
        cb.cbranch(cb.icmp_unsigned(">=", address, c64(CTM_BASE)), ctm, fault)
        tb = ir.IRBuilder(ctm)
        offset_c = tb.add(tb.sub(address, c64(CTM_BASE)), tb.load(self.ctm_shift))
        fits_c = tb.and_(tb.icmp_signed(">=", offset_c, c64(0)),
                         tb.icmp_signed("<=", tb.add(offset_c, size), tb.load(self.frame_len)))
        frame = NENV.load(tb, self.env, "frame")
        ctm_host = tb.add(frame, offset_c)
        ctm_ok = fn.append_basic_block("ctm_ok")
        tb.cbranch(fits_c, ctm_ok, fault)
        kb = ir.IRBuilder(ctm_ok)
        if count:
            p = self.counts["ctm"]
            kb.store(kb.add(kb.load(p), c64(1)), p)
        kb.branch(out)
        fb = ir.IRBuilder(fault)
        saved, self.b = self.b, fb
        self._stop(Stop.MEMORY, 0, self.pc, address, size)
        self.b = saved
        _ = emem_end
        b = self.b = ir.IRBuilder(out)
        host = b.phi(I64)
        host.add_incoming(emem_host, emem_ok)
        host.add_incoming(ctm_host, ctm_ok)
        return b.inttoptr(host, I8P)

    def _dirty(self, address, nbytes):
        """A write into the frame widens the bytes the next packet must clear."""
        b = self.b
        env = self.env
        in_ctm = b.icmp_unsigned("<", address, c64(EMEM_BASE))
        offset = b.add(b.sub(address, c64(CTM_BASE)), b.load(self.ctm_shift))
        lo, hi = NENV.load(b, env, "dirty_lo"), NENV.load(b, env, "dirty_hi")
        end = b.add(offset, c64(nbytes))
        NENV.store(b, env, "dirty_lo", b.select(b.and_(in_ctm, b.icmp_unsigned("<", offset, lo)), offset, lo))
        NENV.store(b, env, "dirty_hi", b.select(b.and_(in_ctm, b.icmp_unsigned(">", end, hi)), end, hi))

    # -- firmware, dispatch, packet set-up and result --------------------------------------------
    def _dispatch(self):
        b = ir.IRBuilder(self.dispatch)
        target = b.load(self.v["jump_to"])
        bad = self.fn.append_basic_block("bad_branch")
        switch = b.switch(target, bad)
        inside = range(self.base_addr, self.base_addr + len(self.insns))
        if any(i.kind == "jump" for i in self.insns):  # a jump table may land anywhere in the image
            named = list(inside)
        else:
            # a computed target is an address some immed loaded (a return address: BPF-to-BPF calls,
            # firmware routines); only those blocks join the switch, which keeps the CFG small
            named = sorted({i.target for i in self.insns if i.kind == "immed" and isinstance(i.target, int)})
        for address in named:
            if address in inside:
                switch.add_case(c32(address), self.blocks[address - self.base_addr])
        if self.card and abi.DONE_OFF not in inside:
            switch.add_case(c32(abi.DONE_OFF), self.done)
        routines = abi.ROUTINES if self.card else firmware.ROUTINES
        for routine in routines.values():
            if routine.address in inside:  # the executor looks in the image first
                continue
            block = self.fn.append_basic_block(f"fw_{routine.name}")
            switch.add_case(c32(routine.address), block)
            self.b = ir.IRBuilder(block)
            self.pc = None  # violations name the last instruction run (cur_pc)
            self.bump(routine.name)
            if self.card:
                self._card_routine(routine.name)
            else:
                self._what_if_routine(routine.name)
        self.b = ir.IRBuilder(bad)
        self._stop(Stop.VIOLATION, V_BAD_BRANCH, None)

    def _by_map(self, map_id, values):
        """values[map_id] for a map id known at run time (0 past the maps: checked before use)."""
        b = self.b
        out = c64(0)
        for k, value in enumerate(values):
            out = b.select(b.icmp_unsigned("==", map_id, c64(k)), c64(value), out)
        return out

    def _map_id(self, value):
        mid = self.b.zext(value, I64) if value.type != I64 else value
        self.violation(V_NO_MAP, cond=self.b.icmp_unsigned(">=", mid, c64(len(self.shapes))))
        return mid

    def _card_routine(self, name):
        """firmware.CARD_ROUTINES with Executor._card_firmware's register protocol around them."""
        ret = self.read(Gpr("B", 0))
        if name == "perf_event_output":
            result = self._perf_event_output()
        else:
            mid = self._map_id(self.read(Gpr("A", 0)))
            value = flags = c64(0)
            if name == "map_update":
                r4 = self.read(Gpr("A", 8))
                flags = self.b.zext(r4, I64)
            key = self._fw_lm(0, self._by_map(mid, self.key_sizes))
            if name == "map_update":
                value = self._fw_lm(2, self._by_map(mid, self.value_sizes))
            result = self._call_map_routine(name, mid, key, value, flags)
        self.clobber(abi.CLOBBERED, self.clobbered_value)  # abi.py: a routine keeps GPRs 12-22 only
        b = self.b
        self.write(Gpr("AB", 0), b.trunc(result, I32))
        self.write(Gpr("AB", 1), b.trunc(b.lshr(result, c64(32)), I32))
        self._return(ret)

    def _call_map_routine(self, name, mid, key, value, flags):
        b = self.b
        result = b.call(self.fw[name], [self.jenv, mid, key, value, flags])
        self.violation(V_NO_MAP, cond=b.icmp_unsigned("==", result, c64(1 << 63)))
        return result

    def _return(self, ret):
        self._context_swapped()
        self.st("jump_to", ret)
        self.b.branch(self.dispatch)

    def _what_if_routine(self, name):
        """firmware.IMPLEMENTATIONS with Executor._firmware's protocol (firmware.py's convention)."""
        if name == "exit":
            lo, hi = self.read(Gpr("A", 0)), self.read(Gpr("B", 0))
            b = self.b
            valid = b.and_(b.icmp_unsigned("==", hi, c32(0)), b.icmp_unsigned("<=", lo, c32(3)))
            data = b.load(self.xdata)
            self.exits.append((b.select(valid, lo, c32(0)), data, b.sub(b.load(self.xend), data), c64(-1), b.block))
            b.branch(self.record)
            return
        ret = self.read(Gpr("B", 0))
        if name in ROUTINE_NAMES:
            arg = self.read(Gpr("A", 0))
            b = self.b
            mid = self._map_id(b.and_(arg, c32(0xFFFF)))
            b = self.b
            field = lambda shift, mask: b.zext(b.and_(b.lshr(arg, c32(shift)), c32(mask)), I64)  # noqa: E731
            flags = field(firmware.FLAGS_SHIFT, 0xFF)
            key_byte, value_byte = field(firmware.KEY_BYTE_SHIFT, 3), field(firmware.VALUE_BYTE_SHIFT, 3)
            key = self._fw_lm(2, self._by_map(mid, self.key_sizes), key_byte)
            value = c64(0)
            if name == "map_update":
                value = self._fw_lm(3, self._by_map(mid, self.value_sizes), value_byte)
            result = self._call_map_routine(name, mid, key, value, flags)
        else:
            delta = self.read(Gpr("A", 0))
            result = self._adjust(name, self.b.sext(delta, I64))
        b = self.b
        self.write(Gpr("A", 0), b.trunc(result, I32))
        self.write(Gpr("B", 0), b.trunc(b.lshr(result, c64(32)), I32))
        self.clobber([n for n in abi.CLOBBERED if n], self.clobbered_value)
        self._return(ret)

    def _adjust(self, name, delta):
        """firmware._adjust: the card's window (card_adjust_refusal), then XdpBuffer.adjust_head or
        adjust_tail; packet_moved writes the new data/data_end context words.  0 or -EINVAL."""
        b = self.b
        data, end = b.load(self.xdata), b.load(self.xend)
        length = b.sub(end, data)
        headroom = NENV.load(b, self.env, "headroom")
        short = lambda n: b.icmp_signed("<", n, c64(abi.ETH_HLEN))  # noqa: E731
        if name == "adjust_tail":
            refused = b.or_(b.icmp_signed(">=", delta, c64(0)), short(b.add(length, delta)))
            new_end = b.add(end, delta)
            hard_end = b.sub(b.load(self.frame_len), c64(SKB_SHARED_INFO_TAILROOM))
            refused = b.or_(refused, b.or_(b.icmp_signed(">", new_end, hard_end),
                                           b.icmp_signed("<", new_end, b.add(data, c64(abi.ETH_HLEN)))))
            b.store(b.select(refused, end, new_end), self.xend)
        else:
            offset = b.add(b.sub(b.add(c64(abi.PACKET_START), data), headroom), delta)
            window = b.and_(b.icmp_signed(">=", offset, c64(abi.ADJUST_HEAD_OFF_MIN)),
                            b.icmp_signed("<=", offset, c64(abi.ADJUST_HEAD_OFF_MAX)))
            refused = b.or_(b.not_(window), short(b.sub(length, delta)))
            new_data = b.add(data, delta)
            refused = b.or_(refused, b.or_(b.icmp_signed("<", new_data, c64(XDP_FRAME_SIZE)),
                                           b.icmp_signed(">", new_data, b.sub(end, c64(abi.ETH_HLEN)))))
            b.store(b.select(refused, data, new_data), self.xdata)
        for word, pointer in ((LM_CTX_DATA, self.xdata), (LM_CTX_DATA_END, self.xend)):  # packet_moved
            at = b.bitcast(b.gep(self.lm8, [c64(4 * word)]), I32.as_pointer())
            b.store(b.trunc(b.add(b.load(pointer), c64(CTM_BASE)), I32), at)
        return b.select(refused, c64(-22), c64(0))

    def _perf_event_output(self):
        """firmware.card_perf_event_output: the record and packet bytes are found and checked here,
        their bytes handed to the engine through the perf callback.  0 or -EINVAL."""
        mid = self._map_id(self.read(Gpr("A", 4)))
        low, high = self.read(Gpr("A", 6)), self.read(Gpr("A", 7))
        pointer, size = self.read(Gpr("A", 8)), self.read(Gpr("A", 10))
        b = self.b
        flags = b.or_(b.zext(low, I64), b.shl(b.zext(high, I64), c64(32)))
        pointer, size = b.zext(pointer, I64), b.zext(size, I64)
        ctx_len = b.lshr(b.and_(flags, c64(BPF_F_CTXLEN_MASK)), c64(32))
        cpu = b.and_(flags, c64(BPF_F_INDEX_MASK))
        refused = b.or_(b.icmp_unsigned("!=", b.and_(flags, c64(~(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK) & UNCHANGED)),
                                        c64(0)),
                        b.icmp_unsigned(">", ctx_len, self.in_length))
        send = self.fn.append_basic_block("perf_send")
        done = self.fn.append_basic_block("perf_done")
        start = b.block
        b.cbranch(refused, done, send)
        self.b = ir.IRBuilder(send)
        in_lm = self.fn.append_basic_block("perf_lm")
        in_memory = self.fn.append_basic_block("perf_memory")
        found = self.fn.append_basic_block("perf_found")
        self.b.cbranch(self.b.icmp_unsigned("<", pointer, c64(LM_BYTES)), in_lm, in_memory)
        self.b = ir.IRBuilder(in_lm)
        b = self.b
        self._check_lm(b.and_(pointer, c64(~3 & UNCHANGED)),
                       b.and_(b.add(b.and_(pointer, c64(3)), b.add(size, c64(3))), c64(~3 & UNCHANGED)))
        b = self.b
        lm_host = b.ptrtoint(b.gep(self.lm8, [b.sub(pointer, b.load(self.lm_base))]), I64)
        lm_end = b.block
        b.branch(found)
        self.b = ir.IRBuilder(in_memory)
        memory_pointer = self._memory(pointer, size, count=False)
        memory_host = self.b.ptrtoint(memory_pointer, I64)
        memory_end = self.b.block
        self.b.branch(found)
        b = self.b = ir.IRBuilder(found)
        host = b.phi(I64)
        host.add_incoming(lm_host, lm_end)
        host.add_incoming(memory_host, memory_end)
        packet = b.add(NENV.load(b, self.env, "frame"), NENV.load(b, self.env, "headroom"))
        callback = b.inttoptr(NENV.load(b, self.env, "perf_cb"),
                              ir.FunctionType(ir.VoidType(), [I64] * len(_PERF_ARGS)).as_pointer())
        b.call(callback, [b.load(self.index), mid, cpu, host, size, packet, ctx_len])
        sent = b.block
        b.branch(done)
        b = self.b = ir.IRBuilder(done)
        result = b.phi(I64)
        result.add_incoming(c64(-22), start)
        result.add_incoming(c64(0), sent)
        return result

    def _fw_lm(self, ptr, size, byte=None):
        """Host address of the key or value LM pointer `ptr` names, `byte` bytes into its word
        (Executor.fw_lm's checks, with the size of the map the id names)."""
        b = self.b
        self.violation(V_LM_UNSET, cond=b.icmp_unsigned("==", b.and_(self.ld("lm_set"), c32(1 << ptr)), c32(0)))
        b = self.b
        self.violation(V_LM_EARLY, cond=b.icmp_unsigned("<", b.load(self.counts["step"]), b.load(self.lm_ready[ptr])))
        b = self.b
        address = b.load(self.lm_ptr[ptr])
        byte = byte if byte is not None else c64(0)
        self._check_lm(address, b.and_(b.add(b.add(byte, size), c64(3)), c64(~3 & UNCHANGED)))
        b = self.b
        return b.ptrtoint(b.gep(self.lm8, [b.add(b.sub(address, b.load(self.lm_base)), byte)]), I64)

    def _prologue(self):
        """Executor.run + _reset_thread + _reset_card (or the what-if's context words) for packet i
        (or stop before it)."""
        b = self.b
        env = self.env
        i = b.load(self.index)
        length = b.zext(b.load(b.gep(b.inttoptr(NENV.load(b, env, "in_lengths"), I32.as_pointer()), [i])), I64)
        offset = b.load(b.gep(b.inttoptr(NENV.load(b, env, "in_offsets"), I64.as_pointer()), [i]))
        headroom = NENV.load(b, env, "headroom")
        need = b.add(b.add(headroom, length), c64(SKB_SHARED_INFO_TAILROOM))
        frame_len = b.select(b.icmp_unsigned(">", need, NENV.load(b, env, "min_frame")), need,
                             NENV.load(b, env, "min_frame"))
        room = b.sub(NENV.load(b, env, "out_capacity"), NENV.load(b, env, "out_used"))
        fits = b.and_(b.icmp_unsigned("<=", frame_len, NENV.load(b, env, "frame_capacity")),
                      b.icmp_unsigned(">=", room, frame_len))
        ready = self.fn.append_basic_block("ready")
        b.cbranch(fits, ready, self.stop_before)
        b.position_at_end(ready)
        b.store(frame_len, self.frame_len)
        frame = b.inttoptr(NENV.load(b, env, "frame"), I8P)
        lo, hi = NENV.load(b, env, "dirty_lo"), NENV.load(b, env, "dirty_hi")
        dirty = b.select(b.icmp_unsigned("<", lo, hi), b.sub(hi, lo), c64(0))
        b.call(self.memset, [b.gep(frame, [lo]), ir.Constant(I8, 0), dirty, ir.Constant(I1, 0)])
        source = b.gep(b.inttoptr(NENV.load(b, env, "in_buf"), I8P), [offset])
        b.call(self.memcpy, [b.gep(frame, [headroom]), source, length, ir.Constant(I1, 0)])
        NENV.store(b, env, "dirty_lo", headroom)
        NENV.store(b, env, "dirty_hi", b.add(headroom, length))
        b.store(headroom, self.xdata)
        b.store(b.add(headroom, length), self.xend)
        # the thread: packets go to the contexts in turn
        thread = NENV.load(b, env, "next_thread")
        nxt = b.add(thread, c64(1))
        NENV.store(b, env, "next_thread", b.select(b.icmp_unsigned(">=", nxt, NENV.load(b, env, "contexts")),
                                                   c64(0), nxt))
        self.st("thread", thread)
        base = b.mul(thread, c64(self.area))
        b.store(base, self.lm_base)
        b.call(self.memset, [self.lm8, ir.Constant(I8, 0), c64(self.area), ir.Constant(I1, 0)])
        b.store(b.sub(headroom, c64(abi.PACKET_START)) if self.card else c64(0), self.ctm_shift)
        for key, reg in self.regs.items():
            b.store(c32(abi.POISON), reg)
            if self.checked:
                b.store(ir.Constant(I1, int(self.start_written)), self.written[key])
        for name in ("z", "n", "c", "v", "prev_alu", "prev_alu_ok", "prev_a", "prev_a_ok", "xin_ok", "xin_pend",
                     "xout_ok", "jump_to", "cur_pc", "mul_on", "latch_on"):
            b.store(c32(0), self.v[name])
        b.store(c32(-1), self.v["jump_at"])
        b.store(c32(-1), self.v["dmem_from"])
        for k in range(32):
            b.store(c32(-1), self.xin_sig[k])
        for counter in self.counts.values():
            b.store(c64(0), counter)
        lm = self.lm8
        word = lambda at: b.bitcast(b.gep(lm, [c64(at)]), I32.as_pointer())  # noqa: E731  (offset in the area)
        if self.card:
            pointers = (base, b.add(base, c64(abi.STACK_BYTES)), c64(0), c64(0))
            self.write(Gpr("A", abi.STACK_A), b.trunc(base, I32))
            b.store(b.or_(c32(0x5A << 24), b.trunc(length, I32)), word(abi.STACK_BYTES + 4 * abi.PV_LEN))
            b.store(c32(CTM_BASE + abi.PACKET_START), word(abi.STACK_BYTES + 4 * abi.PV_PTR))
        else:  # Executor._reset_thread: the context words, the stack window
            pointers = (base, b.add(base, c64(LM_STACK_OFFSET + self.image.stack_bytes - STACK_WINDOW)), c64(0),
                        c64(0))
            for at, value in ((LM_CTX_IFINDEX, NENV.load(b, env, "ifindex")), (LM_CTX_RXQ, NENV.load(b, env, "rxq")),
                              (LM_CTX_BASE, base), (LM_CTX_DATA, b.add(headroom, c64(CTM_BASE))),
                              (LM_CTX_DATA_END, b.add(b.add(headroom, length), c64(CTM_BASE)))):
                b.store(b.trunc(value, I32), word(4 * at))
        for ptr, value in enumerate(pointers):
            b.store(value, self.lm_ptr[ptr])
            b.store(c64(0), self.lm_ready[ptr])
        b.store(c32(0b0011), self.v["lm_set"])
        NENV.store(b, env, "stop_kind", c64(0))
        self.in_length, self.in_source = length, source
        b.branch(self.blocks[0])
        self.last_slots = {pc + insn.defer for pc, insn in enumerate(self.insns) if insn.is_branch and insn.defer}
        self.deferred_targets: dict[int, set[int]] = {}
        for pc, insn in enumerate(self.insns):
            if insn.is_branch and insn.defer and isinstance(insn.target, int) and insn.kind in ("br", "br_bit") \
                    and self.base_addr <= insn.target < self.base_addr + len(self.insns):
                self.deferred_targets.setdefault(pc + insn.defer, set()).add(insn.target)

    def _card_exit(self):
        """DONE_OFF (Executor._card_exit): the packet vector says where the packet is now, A0 the
        verdict, its queue words the program's queue selection."""
        env, fn = self.env, self.fn
        b = ir.IRBuilder(self.done)
        lm = self.lm8
        pv_word = lambda k: b.zext(b.load(b.bitcast(b.gep(lm, [c64(abi.STACK_BYTES + 4 * k)]),  # noqa: E731
                                                     I32.as_pointer())), I64)
        data = b.add(b.sub(pv_word(abi.PV_PTR), c64(CTM_BASE)), b.load(self.ctm_shift))
        length = b.and_(pv_word(abi.PV_LEN), c64(abi.PV_LEN_MASK))
        inside = b.and_(b.icmp_signed(">=", data, c64(0)),
                        b.icmp_signed("<=", b.add(data, length), b.load(self.frame_len)))
        good = fn.append_basic_block("vector_ok")
        bad = fn.append_basic_block("vector_bad")
        b.cbranch(inside, good, bad)
        bb = ir.IRBuilder(bad)
        NENV.store(bb, env, "stop_kind", c64(Stop.VECTOR))
        NENV.store(bb, env, "stop_addr", data)
        NENV.store(bb, env, "stop_size", length)
        NENV.store(bb, env, "stop_pc", bb.zext(bb.load(self.v["cur_pc"]), I64))
        bb.branch(self.stopped)
        gb = ir.IRBuilder(good)
        qsel = gb.zext(gb.load(gb.bitcast(gb.gep(lm, [c64(abi.STACK_BYTES + 4 * abi.PV_QSEL_SET)]),
                                          I32.as_pointer())), I64)
        qval = gb.zext(gb.load(gb.bitcast(gb.gep(lm, [c64(abi.STACK_BYTES + 4 * abi.PV_QSEL_VAL)]),
                                          I32.as_pointer())), I64)
        queue = gb.select(gb.icmp_unsigned("!=", gb.and_(gb.lshr(qsel, c64(abi.PV_QSEL_SET_BIT)), c64(1)), c64(0)),
                          gb.and_(qval, c64(0xFF)), c64(-1))
        self.b, self.pc = gb, None
        a0 = self.read(Gpr("A", 0))
        gb = self.b
        code = ir.Constant(I32, 0)
        for bit, xdp in reversed(list(abi.STAT_TO_XDP.items())):
            code = gb.select(gb.icmp_unsigned("!=", gb.and_(gb.lshr(a0, c32(bit)), c32(1)), c32(0)), c32(xdp), code)
        self.exits.append((code, data, length, queue, gb.block))
        gb.branch(self.record)

    def _epilogue(self, head):
        """DONE_OFF (Executor._card_exit) and a stopped packet: results, counts, the next packet."""
        env = self.env
        fn = self.fn
        record = self.record
        if self.card:
            self._card_exit()
        else:  # the what-if ends at fw.exit
            ir.IRBuilder(self.done).unreachable()
        # stopped: a memory fault or the vector (Fault, retval 0, the packet as it stands), or a violation
        sb = ir.IRBuilder(self.stopped)
        data = sb.load(self.xdata)
        self.exits.append((c32(0), data, sb.sub(sb.load(self.xend), data), c64(-1), sb.block))
        sb.branch(record)
        rb = ir.IRBuilder(record)
        retval, out_data, out_len, rxq = (rb.phi(ty) for ty in (I32, I64, I64, I64))
        for values in self.exits:
            for phi, value in zip((retval, out_data, out_len, rxq), values[:4]):
                phi.add_incoming(value, values[4])
        b = rb
        i = b.load(self.index)
        kind = NENV.load(b, env, "stop_kind")
        faulted = b.icmp_unsigned("!=", kind, c64(0))
        arr = lambda name, ty: b.inttoptr(NENV.load(b, env, name), ty.as_pointer())  # noqa: E731
        b.store(retval, b.gep(arr("retvals", I32), [i]))
        b.store(b.trunc(kind, I8), b.gep(arr("fault_codes", I8), [i]))
        steps = b.load(self.counts["step"])
        b.store(steps, b.gep(arr("insn_counts", I64), [i]))
        b.store(rxq, b.gep(arr("rx_queues", I64), [i]))
        b.store(b.trunc(out_len, I32), b.gep(arr("out_lengths", I32), [i]))
        frame = b.inttoptr(NENV.load(b, env, "frame"), I8P)
        headroom = NENV.load(b, env, "headroom")
        same = b.and_(b.icmp_unsigned("==", out_data, headroom), b.icmp_unsigned("==", out_len, self.in_length))
        compare = fn.append_basic_block("compare")
        copy = fn.append_basic_block("copy")
        unchanged = fn.append_basic_block("unchanged")
        counted = fn.append_basic_block("counted")
        b.cbranch(same, compare, copy)
        cb = ir.IRBuilder(compare)
        differs = cb.call(self.memcmp, [cb.gep(frame, [out_data]), self.in_source, out_len])
        cb.cbranch(cb.icmp_signed("!=", differs, ir.Constant(I32, 0)), copy, unchanged)
        ub = ir.IRBuilder(unchanged)
        ub.store(c64(UNCHANGED), ub.gep(ub.inttoptr(NENV.load(ub, env, "out_offsets"), I64.as_pointer()), [i]))
        ub.branch(counted)
        kb = ir.IRBuilder(copy)
        used = NENV.load(kb, env, "out_used")
        kb.call(self.memcpy, [kb.gep(kb.inttoptr(NENV.load(kb, env, "out_buf"), I8P), [used]),
                              kb.gep(frame, [out_data]), out_len, ir.Constant(I1, 0)])
        kb.store(used, kb.gep(kb.inttoptr(NENV.load(kb, env, "out_offsets"), I64.as_pointer()), [i]))
        NENV.store(kb, env, "out_used", kb.add(used, out_len))
        kb.branch(counted)
        b = ir.IRBuilder(counted)
        # the run's counts into its verdict's sums and length histograms (card.Traffic)
        slot = b.select(faulted, c64(0), b.zext(retval, I64))
        sums = b.inttoptr(NENV.load(b, env, "sums"), I64.as_pointer())
        row = b.mul(slot, c64(len(COUNTERS)))
        for k, name in enumerate(COUNTERS):
            p = b.gep(sums, [b.add(row, c64(k))])
            value = c64(1) if name == "packets" else b.load(self.counts["step" if name == "insns" else name])
            b.store(b.add(b.load(p), value), p)
        for field_name, value in (("hist_in", self.in_length), ("hist_out", out_len)):
            hist = b.inttoptr(NENV.load(b, env, field_name), I64.as_pointer())
            at = b.gep(hist, [b.add(b.mul(slot, c64(HIST)), b.and_(value, c64(HIST - 1)))])
            b.store(b.add(b.load(at), c64(1)), at)
        b.store(b.add(i, c64(1)), self.index)
        stop = b.icmp_unsigned("!=", kind, c64(Stop.NONE))  # Python words the fault (or raises)
        leave = fn.append_basic_block("leave")
        b.cbranch(stop, leave, head)
        lb = ir.IRBuilder(leave)
        lb.ret(lb.load(self.index))


def _source_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes() + Path(__file__).with_name("executor.py").read_bytes()
                          + Path(__file__).with_name("abi.py").read_bytes()).hexdigest()


def _cache_key(image: Image, shapes, sizes) -> str:
    from .encoding import encode

    digest = hashlib.sha256((cache.environment_digest() + _source_digest()).encode())
    digest.update(repr([encode(insn) for insn in image.insns]).encode())
    digest.update(repr((image.load_address, image.contexts, image.allocator, image.abi, image.stack_bytes, sizes,
                        [s and tuple(s._asdict().items()) for s in shapes])).encode())
    return digest.hexdigest()


@dataclass
class NativeImage:
    compiled: backend.Compiled
    batch: object
    from_cache: bool


def compile_image(image: Image, maps) -> NativeImage | None:
    """Native code for `image` over `maps`' layouts, or None (supported() says why)."""
    if supported(image) is not None:
        return None
    check_image(image)  # the executor's static rules, before any code is made
    objects = [maps[name] for name in image.maps]
    shapes: list = [None] * len(objects)
    for shape in map_shapes(_OrderedMaps(maps, image.maps), {name: 0 for name in image.maps}, 0):
        shapes[shape.index] = shape
    if any(s is not None and (s.ncpus != 1 or s.lru) for s in shapes) or any(
            s is None and m.type != MapType.PERF_EVENT_ARRAY for s, m in zip(shapes, objects)):
        return None  # per-CPU, LRU and odd-keyed maps: the executor
    sizes = [(m.key_size, m.value_size) for m in objects]
    key = "nfp-" + _cache_key(image, shapes, sizes)
    entry = cache.load(key)
    code, from_cache = (entry[0], True) if entry is not None else (None, False)
    if code is None:
        try:
            module = _Compiler(image, shapes, sizes).build()
        except Unsupported:
            return None
        code = backend.emit_object(module)
        cache.store(key, code, {})
    compiled = backend.load_object(code)
    return NativeImage(compiled, _BATCH(compiled.address("nfp_batch")), from_cache)


class _OrderedMaps:
    """The image's maps in map-id order, as map_shapes walks a MapStore."""

    def __init__(self, maps, names):
        self.by_index = [maps[name] for name in names]


# -- running it ------------------------------------------------------------------------------------
class NativeRunner:
    """Runs packets through a NativeImage: the packed results the replay driver reads, and the
    runs' counts added to a card.Traffic, as NfpEngine.run does packet by packet."""

    def __init__(self, native: NativeImage, image: Image, maps, config):
        self.native, self.image, self.maps, self.config = native, image, maps, config
        self.env = NENV.struct()
        self.jenv = ENV.struct()
        self.frame = bytearray(config.frame_size)
        self._frame_pin = (ctypes.c_char * len(self.frame)).from_buffer(self.frame)
        self.sums = array("Q", [0]) * (VERDICT_SLOTS * len(COUNTERS))
        self.hist_in = array("Q", [0]) * (VERDICT_SLOTS * HIST)
        self.hist_out = array("Q", [0]) * (VERDICT_SLOTS * HIST)
        env = self.env
        env.contexts, env.area = image.contexts, lm_area_bytes(image.contexts)
        env.headroom, env.min_frame = config.headroom, config.frame_size
        env.sums, env.hist_in, env.hist_out = address_of(self.sums), address_of(self.hist_in), address_of(self.hist_out)
        from ..runtime.helpers import Services

        env.rng = Services(config).rng  # the executor's own Services start from the same seed
        self.nn = array("I", [0]) * 128
        env.nn = address_of(self.nn)
        self.events: dict[int, list[dict]] = {}
        self._perf = _PERF(self._perf_event)
        env.perf_cb = ctypes.cast(self._perf, ctypes.c_void_p).value
        self._set_frame()

    def _perf_event(self, index, map_id, cpu, record, size, packet, ctx_len):
        """The perf callback: the record and packet bytes native code found and checked, as
        firmware.card_perf_event_output records them."""
        from ..runtime.helpers import BPF_F_CURRENT_CPU

        data = ctypes.string_at(record, size) + ctypes.string_at(packet, ctx_len)
        self.events.setdefault(index, []).append({
            "type": "perf", "map": self.image.maps[map_id],
            "cpu": self.config.cpu if cpu == BPF_F_CURRENT_CPU else cpu, "data": data.hex(), "size": size,
            "ctx_len": ctx_len})

    def _set_frame(self):
        self.env.frame = ctypes.addressof(self._frame_pin)
        self.env.frame_capacity = len(self.frame)
        self.env.dirty_lo, self.env.dirty_hi = 0, len(self.frame)  # a new frame is cleared whole once

    def _grow_frame(self, need: int) -> None:
        del self._frame_pin
        self.frame = bytearray(need)
        self._frame_pin = (ctypes.c_char * need).from_buffer(self.frame)
        self._set_frame()

    def run(self, buffer, offsets, lengths, thread: int, traffic, ctx=None) -> tuple[PackedResults, array, int]:
        """(results, the queue each packet selected or -1, the next thread)."""
        offsets, lengths = as_array(offsets, "Q"), as_array(lengths, "I")
        count = len(offsets)
        in_addr, _keep = readable_address(buffer)
        results = PackedResults(array("I", [0]) * count, array("B", [0]) * count, array("Q", [0]) * count,
                                bytearray(), array("Q", [0]) * count, array("I", [0]) * count)
        results.source, results.source_offsets = buffer, offsets
        queues = array("q", [-1]) * count
        need = self.config.headroom + max(lengths, default=0) + SKB_SHARED_INFO_TAILROOM
        if need > len(self.frame):
            self._grow_frame(need)
        out = bytearray(OUT_SLACK)  # only changed packets are stored; it doubles when full
        env = self.env
        env.in_buf, env.in_offsets, env.in_lengths = in_addr, address_of(offsets), address_of(lengths)
        env.retvals, env.fault_codes = address_of(results.retvals), address_of(results.fault_codes)
        env.insn_counts, env.rx_queues = address_of(results.insns), address_of(queues)
        env.out_offsets, env.out_lengths = address_of(results.out_offsets), address_of(results.out_lengths)
        env.next_thread = thread
        env.out_used = 0
        from ..runtime.contract import XdpContext

        context = ctx or XdpContext()
        env.ifindex, env.rxq = context.ingress_ifindex & MASK32, context.rx_queue_index & MASK32
        self.events = {}
        pins = self._pin_maps()
        start = 0
        try:
            while start < count:
                out_pin = (ctypes.c_char * len(out)).from_buffer(out)
                env.out_buf, env.out_capacity = ctypes.addressof(out_pin), len(out)
                done = self.native.batch(ctypes.addressof(env), ctypes.addressof(self.jenv), start, count)
                del out_pin
                if done > start and env.stop_kind:
                    self._stopped(results, done - 1)
                elif done == start:  # the output buffer is full: double it
                    out.extend(bytes(len(out)))
                start = done
        finally:
            del pins
        results.out = out
        for index in results.faults:  # a faulted run reports no events (Executor.run)
            self.events.pop(index, None)
        results.events = self.events
        self._count(traffic, max(lengths, default=0), results)
        return results, queues, env.next_thread

    def _pin_maps(self):
        """Map buffers' addresses for this call: the EMEM table and the JIT map code's table."""
        objects = [self.maps[name] for name in self.image.maps]
        buffers = [getattr(m, "buffer", None) for m in objects]  # a perf event array has none (length 0)
        pins = [(ctypes.c_char * len(buf)).from_buffer(buf) if buf else None for buf in buffers]
        table = array("Q", [0]) * (2 * max(len(objects), 1))  # EMEM: (address, size) per map
        jit_table = array("Q", [0]) * (MAP_WORDS * max(len(objects), 1))  # the JIT map code's rows: word 0 the buffer
        for k, pin in enumerate(pins):
            if pin is not None:
                table[2 * k], table[2 * k + 1] = ctypes.addressof(pin), ctypes.sizeof(pin)
                jit_table[MAP_WORDS * k] = ctypes.addressof(pin)
        self.env.maps = address_of(table)
        self.jenv.map_table = address_of(jit_table)  # runtime/jit/maps.py's layout, whatever its row width
        return pins, (table, jit_table)

    def _stopped(self, results: PackedResults, index: int) -> None:
        from ..runtime.contract import Fault
        from .executor import IsaViolation

        env = self.env
        pc = env.stop_pc
        insn = self.image.insns[pc] if 0 <= pc < len(self.image.insns) else None
        where = insn.ebpf_pc if insn is not None and insn.ebpf_pc is not None else -1
        if env.stop_kind == Stop.VIOLATION:
            raise IsaViolation(f"NFP image breaks a rule at {pc} (native): {VIOLATIONS[env.stop_code]}")
        if env.stop_kind == Stop.MEMORY:
            message = f"memory command at {env.stop_addr:#x} size {env.stop_size} outside CTM and EMEM"
        else:
            data = env.stop_addr - (1 << 64) if env.stop_addr >> 63 else env.stop_addr
            message = f"the packet vector points outside the frame ({data}, {env.stop_size} bytes)"
        results.faults[index] = Fault(f"NFP: {message}", where)

    def _count(self, traffic, max_in: int, results) -> None:
        """The native sums and histograms into `traffic` (card.Traffic), then zeroed; events'
        bytes per packet (the executor's engine counts them per run)."""
        from .card import VERDICTS

        event_runs: dict[int, dict[int, int]] = {}
        for index, events in self.events.items():
            slot = results.retvals[index] if results.retvals[index] < VERDICT_SLOTS else 0
            size = sum(len(e["data"]) // 2 for e in events)
            runs = event_runs.setdefault(slot, {})
            runs[size] = runs.get(size, 0) + 1

        width = len(COUNTERS)
        top_out = min(HIST, len(self.frame) + 1)
        for slot, verdict in enumerate(VERDICTS):
            row = dict(zip(COUNTERS, self.sums[slot * width:(slot + 1) * width]))
            if not row["packets"]:
                continue
            base = slot * HIST
            lengths_in = {n: c for n, c in enumerate(self.hist_in[base:base + max_in + 1]) if c}
            lengths_out = {n: c for n, c in enumerate(self.hist_out[base:base + top_out]) if c}
            self.hist_in[base:base + max_in + 1] = array("Q", [0]) * (max_in + 1)
            self.hist_out[base:base + top_out] = array("Q", [0]) * top_out
            traffic.add_counts(verdict, row["packets"], row["insns"], row["stall"],
                               {"ctm": row["ctm"], "emem": row["emem"]},
                               {name: row[name] for name in FW_COUNTED if row[name]}, lengths_in, lengths_out,
                               event_runs=event_runs.get(slot))
        self.sums[:] = array("Q", [0]) * len(self.sums)
