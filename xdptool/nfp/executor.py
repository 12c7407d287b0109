"""The functional NFP executor: runs a linked image on one packet, one thread at a time.

State per microengine: 128 GPRs per bank (thread t owns the slice
t*K .. t*K+K-1, K = 16 with 8 contexts, 32 with 4), transfer registers per
thread, 4 KB of LM with four LM address pointers per thread, condition codes,
the previous ALU result (the shifter's indirect amount and the ASR fill bit),
the mul_step sequence.  Memory commands reach the CTM packet frame and the
EMEM map storage (the runtime's MapStore buffers, shared with the other
engines) through the address map of image.py; branches into the firmware
range run the routines of firmware.py.

Rules are enforced so that a lowering or allocation mistake fails loudly
(`IsaViolation`) rather than computing something: statically when the image
is loaded (the encoder's own operand rules, from isa.FORMS: two sources of one
class - A+A, B+B, imm+imm...; restricted and unrestricted operand limits;
transfer register directions; command counts; plus GPR numbers within the
thread's share, what may sit in defer slots, defer counts) and while running
(a GPR, transfer or LM pointer read before it is written in this run; LM outside the thread's area
or misaligned; an LM pointer used within 3 cycles of its CSR write; transfer
registers read before their signal; indirect shifts or ASR after a context
swap (the latch is another thread's by then) [inv]; mul_step out of order;
local_csr_rd not followed by immed).

`virtual=True` runs code that still has virtual registers (a dict stands in for
the register file; bank rules are not checked) - for testing the lowering
apart from the allocator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InternalError, XdpError
from ..runtime.config import RuntimeConfig
from ..runtime.contract import Fault, RunResult, XdpContext
from ..runtime.helpers import Services
from ..runtime.maps import MapStore
from ..runtime.xdp import XdpBuffer
from . import abi, card, firmware
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
    ALU_OPS,
    CMD_OV_LEN_MASK,
    CMD_OV_LEN_SHIFT,
    CMD_OVE_LEN,
    CONDITIONS,
    CSR_WRITE_LATENCY,
    MEM_COMMANDS,
    MEM_LITTLE_ENDIAN,
    MUL_STEP_COUNT,
    NfpInsn,
    form_of,
    immed_value,
    shf_reads_b_only,
    sources_swapped,
)
from .registers import MASK32, NONE, NN, Gpr, Imm, Lm, Operand, VReg, Xfer

MAX_STEPS = 1_000_000
BRANCH_STALL = int(card.constant("branch_stall"))


class IsaViolation(InternalError):
    """The image breaks an NFP rule (a lowering or register-allocation bug, so exit code 3)."""


class _MemFault(Exception):
    pass


# -- static checks ------------------------------------------------------------------------------
def check_image(image: Image, virtual: bool = False) -> None:
    """The static rules; raises IsaViolation naming the instruction.  The operand rules (classes,
    field limits, source pairs, counts) are the ones the encoder enforces, from isa.FORMS."""
    insns = image.insns
    for pc, insn in enumerate(insns):

        def bad(message: str) -> None:
            from .printer import format_insn

            raise IsaViolation(f"NFP image breaks an ISA rule at {pc} ({format_insn(insn)}): {message}")

        form = form_of(insn)
        for problem in form.problems(insn, image.regs_per_bank, operands=not virtual):
            bad(problem)
        if form.branch:
            if insn.defer > form.max_defer:
                bad(f"{insn.defer} defer slots (at most {form.max_defer})")
            for slot in range(pc + 1, pc + 1 + insn.defer):
                if slot >= len(insns):
                    bad("defer slots run past the end of the image")
                other = insns[slot]
                if other.is_branch or other.swaps_context:
                    bad(f"a branch or context swap in a defer slot (at {slot})")
        if insn.kind == "mem" and insn.defer:
            for slot in range(pc + 1, pc + 1 + insn.defer):
                if slot >= len(insns) or insns[slot].is_branch or insns[slot].swaps_context:
                    bad(f"a branch or context swap in a memory command's defer slot (at {slot})")
        if insn.kind == "csr_rd" and (pc + 1 >= len(insns) or insns[pc + 1].kind != "immed"):
            bad("local_csr_rd must be followed by immed (the value arrives through it)")
    last = len(insns)
    while last and insns[last - 1].kind == "nop":  # jit.c ends with the ustore's prefetch window of NOPs
        last -= 1
    ends = [k for k in range(max(0, last - 4), last) if insns[k].is_unconditional and k + insns[k].defer == last - 1]
    if not ends:
        raise IsaViolation("NFP image: the last instruction must be an unconditional branch (or its defer slot)")


# -- the machine -------------------------------------------------------------------------------------
@dataclass
class RunStats:
    insns: int = 0
    taken: int = 0
    defer_filled: int = 0
    mem: dict[str, int] = field(default_factory=dict)  # target -> commands
    fw: dict[str, int] = field(default_factory=dict)  # routine -> calls
    swaps: int = 0
    stall: int = 0  # cycles lost to taken branches, less their filled defer slots (card.py)

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


_POISON = None


class Executor:
    def __init__(self, image: Image, maps: MapStore, config: RuntimeConfig | None = None, virtual: bool = False):
        self.image = image
        self.maps = maps
        self.config = config or maps.config
        self.virtual = virtual
        check_image(image, virtual)
        self.K = abi.REGS_PER_BANK[image.contexts]  # the thread's slice of each bank
        self.area = lm_area_bytes(image.contexts)
        self.card = image.abi == "card"
        needed = abi.STACK_BYTES + 4 * abi.PV_WORDS if self.card else image.lm_bytes
        if needed > self.area:
            raise IsaViolation(f"NFP image needs {needed} B of LM per thread; "
                               f"{image.contexts} contexts leave {self.area}")
        if self.card and image.stack_bytes > abi.STACK_BYTES:
            raise IsaViolation(f"NFP image needs {image.stack_bytes} B of stack; the firmware gives "
                               f"{abi.STACK_BYTES}")
        # what a register a routine does not preserve holds afterwards: the kernel image reads
        # stale registers it never uses (jit.c copies R6 = R1 away, for one), so it gets a value;
        # our allocator's image gets "unwritten", so reading one fails at once
        self.clobber_value = abi.POISON if image.allocator == "kernel" else _POISON
        self.base_addr = image.load_address
        self.end_addr = image.load_address + len(image.insns)
        self.ctm_shift = 0
        self.gpr = {"A": [_POISON] * 128, "B": [_POISON] * 128}
        self.vregs: dict[int, int | None] = {}
        self.nn = [0] * 128
        self.lm = bytearray(LM_BYTES)
        self.lm_ptr = [[0] * 4 for _ in range(8)]
        self.lm_ready = [[0] * 4 for _ in range(8)]
        self.lm_set = [[False] * 4 for _ in range(8)]
        self.xdp = XdpBuffer(self.config)
        self.services = Services(self.config)
        self.map_objects = [maps[name] for name in image.maps]
        self.map_ids = {m.name: i for i, m in enumerate(self.map_objects)}
        self.thread = 0
        self.base = 0
        self._base = [0]  # the same, for the compiled steps' closures
        # the NFP takes an indirect shift amount from the A-field source of the previous ALU instruction
        # (jit.c ashr_reg: "the first insn will set both indirect shift amount (source A) and
        # signedness bit (MSB of result)"): whether that is the second source (the SW bit)
        self._swapped = [insn.kind in ("alu", "alu_shf") and sources_swapped(insn) for insn in image.insns]
        self._steps = [None if virtual else self._compile(insn) for insn in image.insns]

    # == running ==========================================================================
    def run(self, packet: bytes, ctx: XdpContext | None = None, thread: int = 0) -> tuple[RunResult, RunStats]:
        if not 0 <= thread < self.image.contexts:
            raise XdpError(f"thread {thread} outside 0..{self.image.contexts - 1}")
        self.thread = thread
        self.base = self._base[0] = thread * self.K
        self.stats = RunStats()
        self.events: list[dict] = []
        self.rx_queue: int | None = None
        self._reset_thread(packet, ctx)
        try:
            retval = self._loop()
            result = RunResult(retval=retval, packet=self.xdp.packet, insns_executed=self.stats.insns,
                               events=self.events)
            result.rx_queue = self.rx_queue
            return result, self.stats
        except _MemFault as exc:
            pc = self._pc
            insn = self.image.insns[pc] if 0 <= pc < len(self.image.insns) else None
            where = insn.ebpf_pc if insn is not None and insn.ebpf_pc is not None else -1
            fault = Fault(f"NFP: {exc}", where)
            return RunResult(retval=0, packet=self.xdp.packet, fault=fault, insns_executed=self.stats.insns), self.stats

    def _reset_thread(self, packet: bytes, ctx: XdpContext | None) -> None:
        t, K = self.thread, self.K
        start = self.clobber_value if self.card else _POISON
        for bank in self.gpr.values():
            bank[t * K:(t + 1) * K] = [start] * K
        self.vregs.clear()
        self.xin: dict[int, int | None] = {}
        self.xin_pending: dict[int, int] = {}  # index -> signal it waits for
        self.xout: dict[int, int] = {}
        self.cc = (0, 0, 0, 0)
        self.prev_alu: int | None = None
        self.prev_a: int | None = None  # the previous ALU instruction's A-field source: indirect shift amounts
        self.mul: dict[str, Any] | None = None
        self.csr_latch: int | None = None
        self.deferred_mem = None
        self.step = 0
        self.xdp.reset(packet, ctx)
        base = self.image.lm_base(t)
        self.lm[base:base + self.area] = bytes(self.area)
        ptrs = self.lm_ptr[t]
        self.lm_ready[t][:] = [0, 0, 0, 0]
        if self.card:
            self._reset_card(base)
            return
        ptrs[:] = [base, base + LM_STACK_OFFSET + self.image.stack_bytes - STACK_WINDOW, 0, 0]
        self.lm_set[t][:] = [True, True, False, False]
        self._write_lm_word(base + 4 * LM_CTX_IFINDEX, self.xdp.ctx.ingress_ifindex & MASK32)
        self._write_lm_word(base + 4 * LM_CTX_RXQ, self.xdp.ctx.rx_queue_index & MASK32)
        self._write_lm_word(base + 4 * LM_CTX_BASE, base)
        self.packet_moved()

    def _reset_card(self, base: int) -> None:
        """What the firmware hands the program (abi.py): LM pointer 0 and A22 = the thread's stack,
        LM pointer 1 = the packet vector (length, CTM address of the packet, queue selection)."""
        t = self.thread
        self.ctm_shift = self.xdp.data - abi.PACKET_START
        pv = base + abi.STACK_BYTES
        self.lm_ptr[t][:] = [base, pv, 0, 0]
        self.lm_set[t][:] = [True, True, False, False]
        self.write_reg(Gpr("A", abi.STACK_A), base)
        # bits above the length belong to other packet-vector fields [inv]: nfp_intro masks them
        self._write_lm_word(pv + 4 * abi.PV_LEN, 0x5A << 24 | self.xdp.length)
        self._write_lm_word(pv + 4 * abi.PV_PTR, CTM_BASE + abi.PACKET_START)

    def _card_exit(self) -> int:
        """At DONE_OFF: the datapath reads the verdict in A0 and the packet and queue from the vector."""
        pv = self.image.lm_base(self.thread) + abi.STACK_BYTES
        data = self._read_lm_word(pv + 4 * abi.PV_PTR) - CTM_BASE + self.ctm_shift
        length = self._read_lm_word(pv + 4 * abi.PV_LEN) & abi.PV_LEN_MASK
        if not 0 <= data <= data + length <= len(self.xdp.frame):
            raise _MemFault(f"the packet vector points outside the frame ({data}, {length} bytes)")
        self.xdp.data = self.xdp.data_meta = data
        self.xdp.data_end = data + length
        if self._read_lm_word(pv + 4 * abi.PV_QSEL_SET) >> abi.PV_QSEL_SET_BIT & 1:
            self.rx_queue = self._read_lm_word(pv + 4 * abi.PV_QSEL_VAL) & 0xFF
        return abi.xdp_code(self.read_reg(Gpr("A", 0)))

    def packet_moved(self) -> None:
        base = self.image.lm_base(self.thread)
        self._write_lm_word(base + 4 * LM_CTX_DATA, CTM_BASE + self.xdp.data)
        self._write_lm_word(base + 4 * LM_CTX_DATA_END, CTM_BASE + self.xdp.data_end)

    def _loop(self) -> int:
        insns = self.image.insns
        handlers = self._handlers
        steps = self._steps
        base, end = self.base_addr, self.end_addr
        pc = 0
        jump_at, jump_to = -1, 0
        while True:
            if self.step >= MAX_STEPS:
                raise IsaViolation("NFP image ran more than a million instructions")
            if pc >= len(insns):
                raise IsaViolation(f"NFP execution ran off the end of the image at {pc}")
            self._pc = pc
            insn = insns[pc]
            if self.csr_latch is not None and insn.kind != "immed":
                raise IsaViolation(f"at {pc}: local_csr_rd not followed by immed")
            if self.mul is not None and insn.kind != "mul_step":
                if not self.mul.get("last_done"):
                    raise IsaViolation(f"at {pc}: mul_step sequence interrupted")
                self.mul = None  # a 32x32 product whose high half nobody wanted
            self.step += 1
            self.stats.insns += 1
            fast = steps[pc]
            taken = fast() if fast is not None else handlers[insn.kind](self, insn)
            if self.deferred_mem is not None and self.step >= self.deferred_mem[0]:
                self._finish_mem(*self.deferred_mem[1:])
            if taken is None:  # fell through: a deferred branch lands after its last defer slot
                if pc != jump_at:
                    pc += 1
                    continue
                taken, jump_at = jump_to, -1
            elif insn.defer:
                jump_at, jump_to = pc + insn.defer, taken
                self.stats.defer_filled += insn.defer
                self.stats.stall += max(0, BRANCH_STALL - insn.defer)
                pc += 1
                continue
            else:
                self.stats.stall += BRANCH_STALL
            self.stats.taken += 1
            while not base <= taken < end:
                result = self._firmware(taken)
                if isinstance(result, tuple):
                    return result[1]
                taken = result
            pc = taken - base

    def _firmware(self, address: int):
        if self.card:
            return self._card_firmware(address)
        routine = firmware.BY_ADDRESS.get(address)
        if routine is None:
            raise IsaViolation(f"branch to {address:#x}: no firmware routine there")
        self.stats.count(self.stats.fw, routine.name)
        if routine.name == "exit":
            lo, hi = self.read_reg(firmware.A0), self.read_reg(firmware.B0)
            # bpf/jit.c nfp_outro_xdp: anything above XDP_TX aborts (no redirect on the card)
            return ("exit", lo if hi == 0 and lo <= 3 else 0)
        ret = self.read_reg(firmware.B0)
        firmware.IMPLEMENTATIONS[routine.name](self)
        self._clobber(n for n in abi.CLOBBERED if n)  # the what-if's routines keep what the card's keep
        self._context_swapped()
        return ret

    def _clobber(self, indices) -> None:
        """What a firmware routine leaves in the registers it does not preserve (abi.py)."""
        for n in indices:
            if n >= self.K:  # 8 contexts (the what-if): a thread has 16 per bank
                continue
            for bank in ("A", "B"):
                self.gpr[bank][self.base + n] = self.clobber_value

    def _card_firmware(self, address: int):
        if address == abi.DONE_OFF:
            return ("exit", self._card_exit())
        routine = abi.BY_ADDRESS.get(address)
        if routine is None:
            raise IsaViolation(f"branch to {address:#x}: outside the image and no firmware routine there")
        self.stats.count(self.stats.fw, routine.name)
        ret = self.read_reg(Gpr("B", 0))
        result = firmware.CARD_ROUTINES[routine.name](self)
        self._clobber(abi.CLOBBERED)  # abi.py: a routine keeps GPRs 12-22 only
        result &= (1 << 64) - 1
        self.write_reg(Gpr("AB", 0), result & MASK32)
        self.write_reg(Gpr("AB", 1), result >> 32)
        self._context_swapped()
        return ret

    # == compiled steps for the common instructions =================================================
    def _compile(self, insn: NfpInsn):
        """A closure doing what the generic handler does, for alu/immed/br on GPRs and immediates
        (the bulk of any image); None leaves the instruction to the generic handler."""
        simple = (Gpr, Imm, type(NONE))
        if insn.kind == "alu" and all(type(getattr(insn, f)) in simple for f in ("dst", "a", "b")):
            return self._compile_alu(insn)
        if insn.kind == "immed" and not insn.width and type(insn.dst) is Gpr and insn.dst.bank != "AB":
            value = insn.target if insn.target is not None else immed_value(insn)[0]
            setter = self._setter(insn.dst)

            def immed_step():
                if self.csr_latch is not None:
                    self._immed(insn)
                else:
                    self.prev_alu = self.prev_a = value
                    setter(value)

            return immed_step
        if insn.kind == "br":
            condition, target = CONDITIONS[insn.op][1], insn.target
            if insn.op == "br":
                return lambda: target
            return lambda: target if condition(*self.cc) else None
        return None

    def _getter(self, op):
        if type(op) is Imm:
            value = op.value
            return lambda: value
        regs, index, base = self.gpr[op.bank], op.index, self._base

        def get():
            value = regs[base[0] + index]
            if value is None:
                raise IsaViolation(f"at {self._pc}: {op} read before it was written")
            return value

        return get

    def _setter(self, op):
        if op is NONE:
            return lambda value: None
        base, index = self._base, op.index
        if op.bank == "AB":
            a, b = self.gpr["A"], self.gpr["B"]

            def set_both(value):
                a[base[0] + index] = b[base[0] + index] = value

            return set_both
        regs = self.gpr[op.bank]

        def set_one(value):
            regs[base[0] + index] = value

        return set_one

    def _compile_alu(self, insn: NfpInsn):
        op = insn.op
        fn = ALU_OPS[op][1]
        get_a = (lambda: 0) if op in ALU_IGNORES_A else self._getter(insn.a)
        get_b, put = self._getter(insn.b), self._setter(insn.dst)
        arith, subtract = op in ALU_ARITH, op in ("-", "-carry", "B-A")
        reverse = op == "B-A"
        swapped = sources_swapped(insn)

        def alu_step():
            a, b = get_a(), get_b()
            self.prev_a = b if swapped else a
            raw = fn(a, b, self.cc[2])
            result = raw & MASK32
            if arith:
                c = (raw >> 32) & 1
                if subtract:
                    x, y = (b, a) if reverse else (a, b)
                    v = (((x ^ y) & (x ^ result)) >> 31) & 1
                else:
                    v = (((a ^ result) & (b ^ result)) >> 31) & 1
                self.cc = (int(result == 0), result >> 31, c, v)
            else:
                self.cc = (int(result == 0), result >> 31, 0, 0)
            self.prev_alu = result
            put(result)

        return alu_step

    # == registers ==============================================================================
    def read_reg(self, reg) -> int:
        if type(reg) is VReg:
            value = self.vregs.get(reg.id)
        else:
            if reg.bank == "AB":
                raise IsaViolation(f"{reg} read as a source")
            value = self.gpr[reg.bank][self.base + reg.index]  # the index was checked with the image
        if value is None:
            raise IsaViolation(f"at {self._pc}: {reg} read before it was written")
        return value

    def read_dst(self, op: Operand) -> int:
        """The old value of a destination that is also read (immed_w*/b*, ld_field)."""
        if isinstance(op, Gpr) and op.bank == "AB":
            a, b = self.read_reg(Gpr("A", op.index)), self.read_reg(Gpr("B", op.index))
            if a != b:
                raise IsaViolation(f"at {self._pc}: {op} differs between its banks")
            return a
        return self.read(op)

    def write_reg(self, reg, value: int) -> None:
        value &= MASK32
        if type(reg) is VReg:
            self.vregs[reg.id] = value
            return
        slot = self.base + reg.index
        bank = reg.bank
        if bank == "AB":
            self.gpr["A"][slot] = self.gpr["B"][slot] = value
        else:
            self.gpr[bank][slot] = value

    def read(self, op: Operand) -> int:
        kind = type(op)
        if kind is Gpr or kind is VReg:
            return self.read_reg(op)
        if kind is Imm:
            return op.value
        if kind is Lm:
            return self._read_lm_word(self._lm_address(op))
        if kind is Xfer:
            if op.direction != "in":
                raise IsaViolation(f"at {self._pc}: {op} read as a source")
            if op.index in self.xin_pending:
                raise IsaViolation(f"at {self._pc}: {op} read before sig{self.xin_pending[op.index]} arrived")
            value = self.xin.get(op.index)
            if value is None:
                raise IsaViolation(f"at {self._pc}: {op} read before a memory read filled it")
            return value
        if kind is NN:
            return self.nn[op.index]
        raise IsaViolation(f"at {self._pc}: reading {op}")

    def write(self, op: Operand, value: int) -> None:
        kind = type(op)
        if kind is Gpr or kind is VReg:
            self.write_reg(op, value)
        elif kind is Lm:
            self._write_lm_word(self._lm_address(op), value & MASK32)
        elif kind is Xfer:
            if op.direction != "out":
                raise IsaViolation(f"at {self._pc}: {op} written by an instruction")
            self.xout[op.index] = value & MASK32
        elif kind is NN:
            self.nn[op.index] = value & MASK32
        elif op is not NONE:
            raise IsaViolation(f"at {self._pc}: writing {op}")

    # == local memory ================================================================================
    def _lm_address(self, op: Lm) -> int:
        t = self.thread
        if not self.lm_set[t][op.ptr]:
            raise IsaViolation(f"at {self._pc}: {op} used before LM pointer {op.ptr} was set")
        if self.step < self.lm_ready[t][op.ptr]:
            raise IsaViolation(f"at {self._pc}: {op} used within {CSR_WRITE_LATENCY} cycles of setting its pointer")
        address = self.lm_ptr[t][op.ptr] + 4 * op.offset
        if op.mode:
            self.lm_ptr[t][op.ptr] += 4 if op.mode == "++" else -4
        self._check_lm(address, 4)
        return address

    def _check_lm(self, address: int, size: int) -> None:
        base = self.image.lm_base(self.thread)
        if address % 4:
            raise IsaViolation(f"at {self._pc}: LM address {address:#x} is not 4-byte aligned")
        if not (base <= address and address + size <= base + self.area):
            raise IsaViolation(f"at {self._pc}: LM {address:#x} outside thread {self.thread}'s area")

    def _read_lm_word(self, address: int) -> int:
        return int.from_bytes(self.lm[address:address + 4], "little")

    def _write_lm_word(self, address: int, value: int) -> None:
        self.lm[address:address + 4] = (value & MASK32).to_bytes(4, "little")

    def fw_lm(self, ptr: int, size: int, byte: int = 0) -> bytes:
        """`size` bytes from `byte` into the LM word pointer `ptr` names (a routine's key or value)."""
        address = self._lm_address(Lm(ptr, 0))
        self._check_lm(address, (byte + size + 3) & ~3)
        return bytes(self.lm[address + byte:address + byte + size])

    def fw_bytes(self, address: int, size: int) -> bytes:
        """`size` bytes a routine was pointed at: the thread's LM (a stack address) or memory."""
        if address < LM_BYTES:
            self._check_lm(address & ~3, (address % 4 + size + 3) & ~3)
            return bytes(self.lm[address:address + size])
        buffer, offset, _ = self._memory(address, size)
        return bytes(buffer[offset:offset + size])

    def map_by_id(self, index: int):
        if index >= len(self.map_objects):
            raise IsaViolation(f"firmware: no map with id {index}")
        return self.map_objects[index]

    def map_address(self, m, offset: int) -> int:
        return EMEM_BASE | self.map_ids[m.name] << EMEM_MAP_SHIFT | offset

    # == memory commands ===============================================================================
    def _memory(self, address: int, size: int) -> tuple[bytearray, int, str]:
        if address >= EMEM_BASE:
            index = (address - EMEM_BASE) >> EMEM_MAP_SHIFT
            offset = address & ((1 << EMEM_MAP_SHIFT) - 1)
            if index < len(self.map_objects):
                buffer = self.map_objects[index].buffer
                if offset + size <= len(buffer):
                    return buffer, offset, "emem"
        elif address >= CTM_BASE:
            offset = address - CTM_BASE + self.ctm_shift
            if 0 <= offset and offset + size <= len(self.xdp.frame):
                return self.xdp.frame, offset, "ctm"
        raise _MemFault(f"memory command at {address:#x} size {size} outside CTM and EMEM")

    def _context_swapped(self) -> None:
        """Other threads ran: the shared latches are theirs now [inv]."""
        self.prev_alu = self.prev_a = None
        self.stats.swaps += 1

    # == handlers =====================================================================================
    def _alu(self, i: NfpInsn) -> None:
        a = 0 if i.op in ALU_IGNORES_A else self.read(i.a)
        b = self.read(i.b)
        self.prev_a = b if self._swapped[self._pc] else a
        code, fn = ALU_OPS[i.op]
        z, n, c, v = self.cc
        raw = fn(a, b, c)
        result = raw & MASK32
        if i.op in ALU_ARITH:
            c = (raw >> 32) & 1
            if i.op in ("-", "-carry", "B-A"):
                x, y = (b, a) if i.op == "B-A" else (a, b)
                v = (((x ^ y) & (x ^ result)) >> 31) & 1
            else:
                v = (((a ^ result) & (b ^ result)) >> 31) & 1
        else:
            c, v = 0, 0
        self.cc = (int(result == 0), result >> 31, c, v)
        self.prev_alu = result
        self.write(i.dst, result)

    def _shift_amount(self, shift) -> int:
        if shift.amount is not None:
            return shift.amount
        if self.prev_a is None:
            raise IsaViolation(f"at {self._pc}: indirect shift without a previous ALU result in this context")
        return self.prev_a & 31

    def _shifted(self, shift, b: int, a: int = 0, arith: bool = False) -> int:
        if shift is None:
            return b
        n = self._shift_amount(shift)
        kind = shift.kind
        if kind == ">>rot":
            return ((b >> n) | (b << (32 - n))) & MASK32 if n else b
        if kind == "<<":
            return (b << n) & MASK32
        if kind == ">>dbl":
            return (((a << 32) | b) >> n) & MASK32
        if arith:
            if self.prev_alu is None:
                raise IsaViolation(f"at {self._pc}: ASR without a previous ALU result (its sign bit) in this context")
            fill = (MASK32 << (32 - n)) & MASK32 if (self.prev_alu >> 31) and n else 0
            return (b >> n) | fill
        return b >> n

    def _alu_shf(self, i: NfpInsn) -> None:
        b = self.read(i.b)
        dbl = i.shift is not None and i.shift.kind == ">>dbl"
        a = 0 if shf_reads_b_only(i.op, i.shift) else self.read(i.a)
        shifted = self._shifted(i.shift, b, a, arith=i.op == "ASR")
        self.prev_a = b if self._swapped[self._pc] else a
        result = {"B": shifted, "ASR": shifted, "AND": a & shifted, "OR": a | shifted}[i.op]
        if dbl and i.op != "B":
            raise IsaViolation(f"at {self._pc}: a funnel shift combines only with B")
        self.cc = (int(result == 0), result >> 31, 0, 0)
        self.prev_alu = result
        self.write(i.dst, result)

    def _ld_field(self, i: NfpInsn) -> None:
        src = self._shifted(i.shift, self.read(i.b))
        mask = sum(0xFF << (8 * k) for k in range(4) if i.value >> k & 1)
        old = 0 if i.width == "w_clr" else self.read_dst(i.dst)
        self.prev_alu = (old & ~mask) | (src & mask)  # what mem_xadd's indirect add_imm reads
        self.write(i.dst, self.prev_alu)

    def _immed(self, i: NfpInsn) -> None:
        if self.csr_latch is not None:
            value, self.csr_latch = self.csr_latch, None
            self.write(i.dst, value)
            return
        value, mask = immed_value(i)
        if i.target is not None:
            value, mask = i.target, MASK32
        old = self.read_dst(i.dst) if i.width else 0
        self.prev_alu = self.prev_a = ((old & ~mask) | value) & MASK32  # immed[--, ...]: a command's length
        self.write(i.dst, self.prev_alu)

    def _mul_step(self, i: NfpInsn) -> None:
        if i.op == "start":
            self.mul = {"a": self.read(i.a), "b": self.read(i.b), "type": None, "steps": 0}
            return
        if self.mul is None:
            raise IsaViolation(f"at {self._pc}: {i.op} without a mul_step start right before it")
        kind, _, step = i.op.partition("_")
        state = self.mul
        state["type"] = state["type"] or kind
        if kind != state["type"]:
            raise IsaViolation(f"at {self._pc}: {i.op} in a {state['type']} multiplication")
        if step.startswith("step"):
            if (self.read(i.a), self.read(i.b)) != (state["a"], state["b"]):
                raise IsaViolation(f"at {self._pc}: mul_step operands changed during the multiplication")
            if int(step[4:]) != state["steps"] + 1:
                raise IsaViolation(f"at {self._pc}: {i.op} out of order")
            state["steps"] += 1
            return
        if state["steps"] != MUL_STEP_COUNT[kind]:
            raise IsaViolation(f"at {self._pc}: {kind} multiplication needs {MUL_STEP_COUNT[kind]} steps")
        a, b = state["a"], state["b"]
        product = {"32x32": a * b, "16x16": (a & 0xFFFF) * (b & 0xFFFF), "24x8": (a & 0xFFFFFF) * (b & 0xFF)}[kind]
        if step == "last":
            self.write(i.dst, product & MASK32)
            state["last_done"] = True
            if kind != "32x32":
                self.mul = None
        elif step == "last2" and kind == "32x32":
            self.write(i.dst, product >> 32)
            self.mul = None
        else:
            raise IsaViolation(f"at {self._pc}: {i.op} is not a mul_step")

    def _br(self, i: NfpInsn):
        if CONDITIONS[i.op][1](*self.cc):
            return i.target
        return None

    def _br_bit(self, i: NfpInsn):
        bit = (self.read(i.a) >> i.value) & 1
        return i.target if bit == (i.op == "br_bset") else None

    def _rtn(self, i: NfpInsn):
        return self.read(i.a)

    def _jump(self, i: NfpInsn):
        return (i.target + self.read(i.a)) & MASK32

    def _mem(self, i: NfpInsn) -> None:
        a, b = self.read(i.a), self.read(i.b)
        if i.mode == "40b_BA":  # jit.c addr40_offset: A the low word, B the high byte
            address = (b & 0xFF) << 32 | a
        elif i.mode == "40b_AB":
            address = (a & 0xFF) << 32 | b
        else:
            address = (a + b) & MASK32
        prev = self.prev_alu
        if i.indirect:
            if prev is None or not prev & CMD_OVE_LEN:
                raise IsaViolation(f"at {self._pc}: an indirect length without CMD_OVE_LEN in the previous ALU result")
            if i.op != "add_imm" and (prev >> CMD_OV_LEN_SHIFT & CMD_OV_LEN_MASK) + 1 != i.value:
                raise IsaViolation(f"at {self._pc}: the previous ALU result sets length "
                                   f"{(prev >> CMD_OV_LEN_SHIFT & CMD_OV_LEN_MASK) + 1}, the command says {i.value}")
        if i.defer:  # the transfer registers are filled in the defer slots: the data moves after them
            self.deferred_mem = (self.step + i.defer, i, address, prev)
        else:
            self._finish_mem(i, address, prev)
        if i.sync.startswith("ctx_swap") and not i.defer:
            self._context_swapped()

    def _finish_mem(self, i: NfpInsn, address: int, prev: int | None) -> None:
        self.deferred_mem = None
        _, _, direction, unit = MEM_COMMANDS[i.op]
        little = i.op in MEM_LITTLE_ENDIAN
        if i.op == "add_imm":  # mem_xadd: the addend is bits 31:16 of the previous ALU result
            width = 8 if prev >> (CMD_OV_LEN_SHIFT + 2) & 1 else 4
            addend = prev >> 16 & 0xFFFF
        elif i.op == "add":
            width = 4 * i.value
            addend = int.from_bytes(self._from_xfer(i.dst.index, width, False), "little")
        nbytes = i.value if unit == "byte" else 4 * i.value
        if i.op in ("add", "add_imm"):
            nbytes = width
        buffer, offset, target = self._memory(address, nbytes)
        self.stats.count(self.stats.mem, target)
        if i.op in ("add", "add_imm"):
            old = int.from_bytes(buffer[offset:offset + width], "little")
            buffer[offset:offset + width] = ((old + addend) & ((1 << 8 * width) - 1)).to_bytes(width, "little")
        elif direction == "write":
            buffer[offset:offset + nbytes] = self._from_xfer(i.dst.index, nbytes, not little)
        else:
            self._to_xfer(i.dst.index, bytes(buffer[offset:offset + nbytes]), not little, i)
        if i.defer and i.sync.startswith("ctx_swap"):
            self._context_swapped()

    def _to_xfer(self, first: int, data: bytes, big_endian: bool, i: NfpInsn) -> None:
        data = data + bytes(-len(data) % 4)
        for k in range(len(data) // 4):
            self.xin[first + k] = int.from_bytes(data[4 * k:4 * k + 4], "big" if big_endian else "little")
            if i.sync == "sig_done":
                self.xin_pending[first + k] = i.sig
            else:
                self.xin_pending.pop(first + k, None)

    def _from_xfer(self, first: int, nbytes: int, big_endian: bool) -> bytes:
        out = bytearray()
        for k in range((nbytes + 3) // 4):
            value = self.xout.get(first + k)
            if value is None:
                raise IsaViolation(f"at {self._pc}: $out_{first + k} sent before it was written")
            out += value.to_bytes(4, "big" if big_endian else "little")
        return bytes(out[:nbytes])

    def _csr_wr(self, i: NfpInsn) -> None:
        value = self.read(i.b)
        if i.op.startswith("ACT_LM_ADDR"):
            ptr = int(i.op[-1])
            t = self.thread
            self.lm_ptr[t][ptr] = value & ~3  # the CSR drops the low bits (jit.c mem_op_stack relies on it)
            self.lm_set[t][ptr] = True
            self.lm_ready[t][ptr] = self.step + CSR_WRITE_LATENCY
        elif i.op != "PSEUDO_RND_NUM":
            raise IsaViolation(f"at {self._pc}: writing CSR {i.op} is not modelled")

    def _csr_rd(self, i: NfpInsn) -> None:
        if i.op == "PSEUDO_RND_NUM":
            self.csr_latch = self.services.prandom_u32()
        elif i.op.startswith("ACT_LM_ADDR"):
            self.csr_latch = self.lm_ptr[self.thread][int(i.op[-1])]
        elif i.op == "CTX_PTR":
            self.csr_latch = self.thread
        else:
            raise IsaViolation(f"at {self._pc}: reading CSR {i.op} is not modelled")

    def _ctx_arb(self, i: NfpInsn) -> None:
        for index, sig in list(self.xin_pending.items()):
            if sig == i.sig:
                del self.xin_pending[index]
        self._context_swapped()

    def _nop(self, i: NfpInsn) -> None:
        return None

    _handlers = {
        "alu": _alu, "alu_shf": _alu_shf, "ld_field": _ld_field, "immed": _immed, "mul_step": _mul_step,
        "br": _br, "br_bit": _br_bit, "rtn": _rtn, "jump": _jump, "mem": _mem, "csr_wr": _csr_wr, "csr_rd": _csr_rd,
        "ctx_arb": _ctx_arb, "nop": _nop,
    }

