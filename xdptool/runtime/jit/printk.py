"""bpf_trace_printk as native code, for the formats a program holds and those it makes at run time.

A call site's format is found when the module is built: the bytes the call's r1 points to,
r2 long, when r1 is `.rodata` (a frozen map: MapShape.frozen) plus a constant, or the stack
where the block before the call stored constants (clang's `char fmt[] = "..."`).  At run
time the site checks that r2 and the bytes are still those (else the Python helper: a path
the search did not see) and then does what runtime/printk.py says with the format's
conversions unrolled: the text's length as the return value, -EINVAL or -ENOSPC, strings and
addresses read without faulting.  A site whose format is not found parses it when it runs
(_runtime_site over printk_format.py; its record then holds the format; one it cannot read
goes to the Python helper, which faults).  The text itself is made after the run, in
Python: the site appends a record to the env's event log (events.append_event) with the
arguments and the bytes the conversions read, under map index PRINTK_MAP and the format's
number (RUNTIME_FORMAT: the format in the record); the Python helper's own texts go into the
log as TEXT_RECORDs, so that a run's lines keep their order.  Only in a module whose event
helpers are native (events.native_events: no Python helper runs program code that could
print).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any

import llvmlite.ir as ir

from ...ebpf.opcodes import AluOp, Cls, Mode
from ...elf.model import RelocKind
from ...platform.helpers import HELPER_ID
from .. import printk
from ..memory import ORIGIN, REGION_SHIFT
from .env import ENV, R_HI, R_HOST, R_LO
from .events import append_event, native_events
from .irtypes import I1, I8, I64, I8P, c64, join
from .packed import PRINTK_MAP, RUNTIME_FORMAT
from .printk_format import OUT_CONVERSIONS, OUT_COUNT, OUT_LENGTH, OUT_LITERAL, OUT_WORDS, parse_function

if TYPE_CHECKING:
    from .translate import Translator

TRACE_PRINTK, TRACE_VPRINTK = HELPER_ID["trace_printk"], HELPER_ID["trace_vprintk"]
MAX_STATIC_FORMAT = 256  # longer formats are compared by the Python helper
STACK_FRAME = 512
_POWERS = [10 ** k for k in range(1, 20)]


# -- the format a call site holds ------------------------------------------------------------

class _Flow:
    """A unit's straight-line blocks: where each begins and which instructions jump or fall
    into it."""

    def __init__(self, insns: list):
        self.insns = insns
        index = {insn.pc: k for k, insn in enumerate(insns)}
        self.preds: dict[int, list[int]] = {}
        for k, insn in enumerate(insns):
            if insn.is_branch and insn.target in index:
                self.preds.setdefault(index[insn.target], []).append(k)
        self.starts = set(self.preds) | {0}
        for k, insn in enumerate(insns[:-1]):
            if insn.is_branch or insn.is_exit:
                self.starts.add(k + 1)
        for k in sorted(self.starts):
            if k > 0 and not (insns[k - 1].is_exit or insns[k - 1].is_branch and insns[k - 1].op == 0):
                self.preds.setdefault(k, []).append(k - 1)  # falls through (a JA does not)

    def block_of(self, k: int) -> int:
        while k not in self.starts:
            k -= 1
        return k

    def paths(self, at: int, depth: int = 2) -> list[list[tuple[int, int]]]:
        """Runs of instructions [start, end) that reach insns[at], the call's block last: the
        block alone, then through each predecessor block, `depth` blocks back at most."""
        start = self.block_of(at)
        found = [[(start, at)]]
        if depth:
            for pred in self.preds.get(start, []):
                for path in self.paths(pred, depth - 1):
                    found.append([*path[:-1], (path[-1][0], pred + 1), (start, at)])
        return found


def _run(insns: list, spans, frozen: dict[str, bytes]) -> tuple[dict, dict]:
    """The constant registers and stack bytes after running `spans` from nothing known."""
    regs: dict[int, tuple] = {10: ("fp", STACK_FRAME)}
    stack: dict[int, int] = {}
    for start, end in spans:
        for insn in insns[start:end]:
            _step(insn, regs, stack, frozen)
    return regs, stack


def _step(insn, regs: dict, stack: dict, frozen: dict[str, bytes]) -> None:
    cls, dst = insn.cls, insn.dst
    if insn.is_ld_imm64:
        reloc = insn.reloc
        if reloc is None and insn.src == 0:
            regs[dst] = ("k", insn.imm64)
        elif reloc is not None and reloc.kind is RelocKind.MAP_VALUE and reloc.map in frozen:
            regs[dst] = ("map", reloc.map, reloc.offset)
        else:
            regs.pop(dst, None)
    elif cls == Cls.ALU and insn.op == AluOp.MOV and insn.off == 0 and not insn.uses_reg_src:
        regs[dst] = ("k", insn.imm & 0xFFFFFFFF)
    elif cls == Cls.ALU64 and insn.op == AluOp.MOV and insn.off == 0:
        value = regs.get(insn.src) if insn.uses_reg_src else ("k", insn.imm & ((1 << 64) - 1))
        if value is None:
            regs.pop(dst, None)
        else:
            regs[dst] = value
    elif cls == Cls.ALU64 and insn.op == AluOp.ADD and not insn.uses_reg_src and dst in regs:
        kind, *rest = regs[dst]
        regs[dst] = (kind, *rest[:-1], rest[-1] + insn.imm)
    elif cls in (Cls.ST, Cls.STX) and insn.mode == Mode.MEM and regs.get(dst, ("",))[0] == "fp":
        where, size = regs[dst][1] + insn.off, insn.size_bytes
        value = ("k", insn.imm) if cls == Cls.ST else regs.get(insn.src, ("",))
        if value[0] != "k":
            for k in range(size):
                stack.pop(where + k, None)
            return
        for k, byte in enumerate((value[1] & ((1 << 8 * size) - 1)).to_bytes(size, "little")):
            stack[where + k] = byte
    elif insn.is_call:
        for n in range(6):
            regs.pop(n, None)
    elif cls in (Cls.ALU, Cls.ALU64, Cls.LDX, Cls.LD) or insn.is_atomic:
        regs.pop(dst, None)
        if insn.is_atomic:
            regs.pop(insn.src, None)


def _format(regs: dict, stack: dict, frozen: dict[str, bytes]) -> tuple[bytes, int | None] | None:
    """The r2 bytes r1 points to, if the registers and stack make them constant, and r4 where
    it is a constant (bpf_trace_vprintk's data_len)."""
    size, pointer = regs.get(2, ("",)), regs.get(1, ("",))
    if size[0] != "k" or not 0 < size[1] <= MAX_STATIC_FORMAT:
        return None
    n, r4 = size[1], regs.get(4, ("",))
    fmt = None
    if pointer[0] == "fp":
        raw = [stack.get(pointer[1] + k, -1) for k in range(n)]
        fmt = None if -1 in raw else bytes(raw)
    elif pointer[0] == "map":
        data, start = frozen[pointer[1]], pointer[2]
        fmt = data[start:start + n] if 0 <= start and start + n <= len(data) else None
    return None if fmt is None else (fmt, r4[1] if r4[0] == "k" else None)


def static_formats(insns: list, at: int, frozen: dict[str, bytes], flow: _Flow | None = None,
                   with_data_len: bool = False) -> list[tuple[bytes, int | None]]:
    """The formats the call insns[at] may be given, as far as the straight-line code of its
    block and of up to two blocks before it make them constant (a switch whose cases set r1
    and r2 and share one call gives several), each with r4 (`with_data_len`: only where it
    is constant too; else None).  `frozen`: read-only maps' values by name."""
    found: list[tuple[bytes, int | None]] = []
    for path in (flow or _Flow(insns)).paths(at):
        site = _format(*_run(insns, path, frozen), frozen)
        if site is None or with_data_len and site[1] is None:
            continue
        site = site if with_data_len else (site[0], None)
        if site not in found:
            found.append(site)
    return found


def module_formats(t: "Translator") -> list[bytes]:
    """The formats of this module's native sites, by number (kept with the compiled code)."""
    return t.__dict__.setdefault("printk_formats", [])


# -- IR ---------------------------------------------------------------------------------------

def _decimal_length(b: ir.IRBuilder, value):
    """Digits of an unsigned 64-bit value."""
    length = c64(1)
    for power in _POWERS:
        length = b.add(length, b.zext(b.icmp_unsigned(">=", value, c64(power)), I64))
    return length


def _hex_length(t: "Translator", b: ir.IRBuilder, value):
    ctlz = t.module.declare_intrinsic("llvm.ctlz", [I64], ir.FunctionType(I64, [I64, I1]))
    bits = b.sub(c64(64), b.call(ctlz, [value, ir.Constant(I1, 0)]))
    digits = b.lshr(b.add(bits, c64(3)), c64(2))
    return b.select(b.icmp_unsigned("==", digits, c64(0)), c64(1), digits)


def _readable(t: "Translator", b: ir.IRBuilder, addr):
    """(host pointer, bytes readable from it) for `addr`, 0 bytes where it is no memory (the
    context included): what a nofault copy may read."""
    memory, env = t.memory, t.env
    rid = b.lshr(addr, c64(REGION_SHIFT))
    mapped = b.icmp_unsigned("<", rid, ENV.load(b, env, "region_count"))
    safe = b.select(mapped, rid, c64(0))
    off = b.sub(b.and_(addr, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
    lo, hi = memory._entry(b, env, safe, R_LO), memory._entry(b, env, safe, R_HI)
    inside = b.and_(b.icmp_signed(">=", off, lo), b.icmp_signed("<", off, hi))
    ok = b.and_(inside, b.icmp_unsigned("!=", safe, ENV.load(b, env, "ctx_id")))
    host = b.inttoptr(b.add(memory._entry(b, env, safe, R_HOST), off), I8P)
    return host, b.select(ok, b.sub(hi, off), c64(0))


def _string(t: "Translator", b: ir.IRBuilder, pc: int, addr, limit):
    """memory.copy_string_nofault: (host pointer, characters) -- 0 where it cannot read."""
    host, avail = _readable(t, b, addr)
    window = b.add(limit, c64(1))
    window = b.select(b.icmp_unsigned("<", avail, window), avail, window)
    fn = b.function
    head = fn.append_basic_block(f"pc{pc}.printk.scan")
    body = fn.append_basic_block(f"pc{pc}.printk.byte")
    done = fn.append_basic_block(f"pc{pc}.printk.scanned")
    entry = b.block
    b.branch(head)
    b.position_at_end(head)
    k = b.phi(I64)
    k.add_incoming(c64(0), entry)
    b.cbranch(b.icmp_unsigned("<", k, window), body, done)
    b.position_at_end(body)
    is_nul = b.icmp_unsigned("==", b.load(b.gep(host, [k])), ir.Constant(I8, 0))
    k.add_incoming(b.add(k, c64(1)), body)
    b.cbranch(is_nul, done, head)
    b.position_at_end(done)
    at = b.phi(I64)
    at.add_incoming(k, head)
    at.add_incoming(k, body)
    found = b.phi(I1)
    found.add_incoming(ir.Constant(I1, 0), head)
    found.add_incoming(ir.Constant(I1, 1), body)
    full = b.icmp_unsigned("==", window, b.add(limit, c64(1)))
    chars = b.select(found, at, b.select(full, limit, c64(0)))
    return host, chars


def _zeros(t: "Translator"):
    module = t.module
    zeros = module.globals.get("printk_zeros")
    if zeros is None:
        zeros = ir.GlobalVariable(module, ir.ArrayType(I8, 16), name="printk_zeros")
        zeros.initializer = ir.Constant(ir.ArrayType(I8, 16), bytearray(16))  # type: ignore[assignment]
        zeros.global_constant = True
    return zeros.bitcast(I8P)


def _matches(b: ir.IRBuilder, host, expected: bytes):
    """Whether the `len(expected)` bytes at `host` are `expected` (word by word)."""
    differ: Any = c64(0)
    for at in range(0, len(expected), 8):
        chunk = expected[at:at + 8]
        ty = ir.IntType(8 * len(chunk))
        word = b.load(b.bitcast(b.gep(host, [c64(at)]), ty.as_pointer()), align=1)
        differ = b.or_(differ, b.zext(b.xor(word, ir.Constant(ty, int.from_bytes(chunk, "little"))), I64))
    return b.icmp_unsigned("==", differ, c64(0))


class _Site:
    """One site's conversions emitted in order: the text's length, the binary buffer's use,
    -ENOSPC, and the bytes each string or address conversion read."""

    def __init__(self, t: "Translator", b: ir.IRBuilder, pc: int, args: list):
        self.t, self.b, self.pc, self.args = t, b, pc, args
        self.length: Any = c64(0)
        self.used: Any = c64(0)
        self.no_room: Any = ir.Constant(I1, 0)
        self.blobs: list = []

    def _room(self):
        return self.b.sub(c64(printk.BIN_ARGS), self.used)

    def _needs(self, size: int | ir.Value) -> None:
        b = self.b
        size = c64(size) if isinstance(size, int) else size
        self.no_room = b.or_(self.no_room, b.icmp_unsigned("<", self._room(), size))

    def add(self, conv: printk.Conversion, width=None) -> None:
        """Conversion `conv` (its field `width` a run-time value when given)."""
        b, kind = self.b, conv.kind
        value = self.args[conv.arg]
        if kind in printk.NUMBER_KINDS:
            text = self._number(conv, value)
            self.used = b.and_(b.add(self.used, c64(3)), c64(~3))
            self._needs(conv.size)
            self.used = b.add(self.used, c64(conv.size))
        elif kind in printk.STRING_KINDS:
            self._needs(1)
            if kind == "us":
                host, text = _zeros(self.t), c64(0)
            else:
                room = self._room()
                limit = b.select(b.icmp_unsigned("==", room, c64(0)), c64(0), b.sub(room, c64(1)))
                host, text = _string(self.t, b, self.pc, value, limit)
            self.blobs.append((host, text))
            self.used = b.add(self.used, b.add(text, c64(1)))
        elif kind in printk.ADDRESS_KINDS:
            size = printk.ADDRESS_KINDS[kind]
            self._needs(size)
            host, avail = _readable(self.t, b, value)
            readable = b.icmp_unsigned(">=", avail, c64(size))
            raw = b.select(readable, host, _zeros(self.t))
            self.blobs.append((raw, c64(size)))
            text = self._address(kind, raw)
            self.used = b.add(self.used, b.add(text, c64(1)))
        elif kind == "c":
            self._needs(1)
            text = c64(1)
            self.used = b.add(self.used, c64(1))
        elif kind in printk.POINTER_KINDS:
            text = c64(16)
            self.used = b.and_(b.add(self.used, c64(3)), c64(~3))
            self._needs(8)
            self.used = b.add(self.used, c64(8))
        else:  # %ps %pS %pB: "0x" and the digits
            text = b.add(c64(2), _hex_length(self.t, b, value))
            if kind == "pB":
                self.used = b.add(self.used, b.add(text, c64(1)))
            else:
                self.used = b.and_(b.add(self.used, c64(3)), c64(~3))
                self._needs(8)
                self.used = b.add(self.used, c64(8))
        if conv.width:
            width = c64(conv.width)
        if width is not None:
            text = b.select(b.icmp_unsigned("<", text, width), width, text)
        self.length = b.add(self.length, text)

    def _number(self, conv: printk.Conversion, value):
        b = self.b
        if conv.size == 4:
            low = b.trunc(value, ir.IntType(32))
            value = b.sext(low, I64) if conv.kind in "di" else b.zext(low, I64)
        if conv.kind in "xX":
            return _hex_length(self.t, b, value)
        if conv.kind == "u":
            return _decimal_length(b, value)
        negative = b.icmp_signed("<", value, c64(0))
        magnitude = b.select(negative, b.sub(c64(0), value), value)
        signed = negative if not ("+" in conv.flags or " " in conv.flags) else ir.Constant(I1, 1)
        return b.add(_decimal_length(b, magnitude), b.zext(signed, I64))

    def _address(self, kind: str, raw):
        b = self.b
        if kind == "I4":
            length = c64(3)
            for k in range(4):
                byte = b.zext(b.load(b.gep(raw, [c64(k)])), I64)
                length = b.add(length, b.add(c64(1), b.add(b.zext(b.icmp_unsigned(">=", byte, c64(10)), I64),
                                                           b.zext(b.icmp_unsigned(">=", byte, c64(100)), I64))))
            return length
        return c64({"i4": 15, "I6": 39, "i6": 32}[kind])


def printk_emitter(shapes, helper_id: int = TRACE_PRINTK):
    """The bpf_trace_printk emitter of a module over map `shapes` (the frozen ones hold
    formats); with `helper_id` TRACE_VPRINTK bpf_trace_vprintk's, whose arguments are the
    data_len / 8 u64s r3 points to: native where the format and data_len are held (libbpf's
    bpf_printk: the format in .rodata, data_len a constant), else the Python helper."""
    frozen = {shape.name: shape.frozen for shape in shapes if shape.frozen}
    varargs = helper_id == TRACE_VPRINTK

    def emit(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value | None:
        if not native_events(t):
            return None
        insns = t.unit.insns
        flows = t.__dict__.setdefault("printk_flows", {})
        flow = flows.get(t.unit.index) or flows.setdefault(t.unit.index, _Flow(insns))
        at = next(k for k, other in enumerate(insns) if other.pc == insn.pc)
        candidates = static_formats(insns, at, frozen, flow, with_data_len=varargs)
        if varargs and not candidates:
            return None
        t.__dict__["printk_native"] = True
        fn = b.function
        done = fn.append_basic_block(f"pc{insn.pc}.printk.done")
        incoming = []
        for expected, data_len in candidates:  # the format each may be, checked in turn
            other = fn.append_basic_block(f"pc{insn.pc}.printk.other")
            incoming += _site(t, b, insn, args, expected, other, done, data_len)
            b.position_at_end(other)
        if candidates:  # none of them (a path the search did not see): Python, rather than a
            # parser at every held format's site (+40% compile time on a program of 14 sites)
            incoming.append((t.helpers.callback(t, b, insn, c64(helper_id), args), b.block))
            b.branch(done)
        else:
            incoming += _runtime_site(t, b, insn, args, done)
        return join(b, done, incoming)
    return emit


def _frame_array(t: "Translator", name: str, words: int):
    """An [i64 x words] in the function's entry block (one per name: a call site in a loop
    must not grow the frame on every pass)."""
    arrays = t.__dict__.setdefault("printk_arrays", {})
    key = (name, id(t.fn))
    if key not in arrays:
        entry = t.fn.entry_basic_block
        builder = ir.IRBuilder(entry)
        builder.position_at_start(entry)
        arrays[key] = builder.alloca(ir.ArrayType(I64, words), name=name)
    return arrays[key]


def _runtime_site(t: "Translator", b: ir.IRBuilder, insn, args, done: ir.Block) -> list[tuple[Any, Any]]:
    """The call with a format parsed when it runs (printk_format.parse_function), each of the
    MAX_ARGS conversions measured as a known format's are, by its code (a switch); a format
    it cannot read without faulting goes to the Python helper (its fault).  The record holds
    the format itself (packed.RUNTIME_FORMAT)."""
    fn = b.function
    pc = insn.pc
    incoming: list[tuple[Any, Any]] = []
    size = b.and_(args[1], c64(0xFFFFFFFF))
    host, avail = _readable(t, b, args[0])
    parse = fn.append_basic_block(f"pc{pc}.printk.parse")
    python = fn.append_basic_block(f"pc{pc}.printk.python")
    b.cbranch(b.icmp_unsigned(">=", avail, size), parse, python)
    pb = ir.IRBuilder(python)
    incoming.append((t.helpers.callback(t, pb, insn, c64(TRACE_PRINTK), args), pb.block))
    pb.branch(done)

    b.position_at_end(parse)
    words = b.bitcast(_frame_array(t, "printk_parsed", OUT_WORDS), I64.as_pointer())
    status = b.call(parse_function(t.module), [host, size, words])
    parsed = fn.append_basic_block(f"pc{pc}.printk.parsed")
    incoming.append((c64(-errno.EINVAL), b.block))
    b.cbranch(b.icmp_signed("<", status, c64(0)), done, parsed)
    b.position_at_end(parsed)
    count = b.load(b.gep(words, [c64(OUT_COUNT)]))
    blob_hosts = _frame_array(t, "printk_blob_hosts", printk.MAX_ARGS)
    blob_sizes = _frame_array(t, "printk_blob_sizes", printk.MAX_ARGS)
    for k in range(printk.MAX_ARGS):
        b.store(b.ptrtoint(_zeros(t), I64), b.gep(blob_hosts, [c64(0), c64(k)]))
        b.store(c64(0), b.gep(blob_sizes, [c64(0), c64(k)]))
    # the conversions in turn (one copy of the cases): its code picks what _Site emits for it
    entry = b.block
    head = fn.append_basic_block(f"pc{pc}.printk.conv")
    body = fn.append_basic_block(f"pc{pc}.printk.conv.body")
    measured = fn.append_basic_block(f"pc{pc}.printk.conv.measured")
    finished = fn.append_basic_block(f"pc{pc}.printk.conv.finished")
    b.branch(head)
    b.position_at_end(head)
    k, length, used, no_room = b.phi(I64), b.phi(I64), b.phi(I64), b.phi(I1)
    for phi, start in ((k, c64(0)), (length, c64(0)), (used, c64(0)), (no_room, ir.Constant(I1, 0))):
        phi.add_incoming(start, entry)
    b.cbranch(b.icmp_unsigned("<", k, count), body, finished)
    b.position_at_end(body)
    slot = b.add(c64(OUT_CONVERSIONS), b.mul(k, c64(2)))
    code, width = b.load(b.gep(words, [slot])), b.load(b.gep(words, [b.add(slot, c64(1))]))
    value = b.select(b.icmp_unsigned("==", k, c64(0)), args[2],
                     b.select(b.icmp_unsigned("==", k, c64(1)), args[3], args[4]))
    switch = b.switch(code, measured)
    states: list[tuple[Any, Any, Any, Any]] = [(length, used, no_room, body)]
    for runtime_code in printk.RUNTIME_CODES:
        case = fn.append_basic_block(f"pc{pc}.printk.code{runtime_code}")
        switch.add_case(c64(runtime_code), case)
        cb = ir.IRBuilder(case)
        one = _Site(t, cb, pc, [value])
        one.length, one.used, one.no_room = length, used, no_room
        one.add(printk.runtime_conversion(runtime_code, 0), width)
        if one.blobs:
            blob_host, blob_size = one.blobs[0]
            cb.store(cb.ptrtoint(blob_host, I64), cb.gep(blob_hosts, [c64(0), k]))
            cb.store(blob_size, cb.gep(blob_sizes, [c64(0), k]))
        states.append((one.length, one.used, one.no_room, cb.block))
        cb.branch(measured)
    b.position_at_end(measured)
    merged = []
    for n, kind in enumerate((I64, I64, I1)):
        phi = b.phi(kind)
        for state in states:
            phi.add_incoming(state[n], state[3])
        merged.append(phi)
    k.add_incoming(b.add(k, c64(1)), measured)
    length.add_incoming(merged[0], measured)
    used.add_incoming(merged[1], measured)
    no_room.add_incoming(merged[2], measured)
    b.branch(head)
    b.position_at_end(finished)
    blobs = [(b.inttoptr(b.load(b.gep(blob_hosts, [c64(0), c64(n)])), I8P), b.load(b.gep(blob_sizes, [c64(0), c64(n)])))
             for n in range(printk.MAX_ARGS)]
    length = b.add(length, b.load(b.gep(words, [c64(OUT_LITERAL)])))
    room = fn.append_basic_block(f"pc{pc}.printk.record")
    incoming.append((c64(-errno.ENOSPC), b.block))
    b.cbranch(no_room, done, room)
    b.position_at_end(room)
    record = _frame_array(t, "printk_record", printk.RUNTIME_WORDS)
    fmt_length = b.load(b.gep(words, [c64(OUT_LENGTH)]))
    values = [args[2], args[3], args[4], fmt_length, *(blob_size for _, blob_size in blobs)]
    for k, value in enumerate(values):
        b.store(value, b.gep(record, [c64(0), c64(k)]))
    parts = [(b.bitcast(record, I8P), c64(8 * printk.RUNTIME_WORDS)), (host, fmt_length), *blobs]
    append_event(t, b, insn, c64(PRINTK_MAP), c64(RUNTIME_FORMAT), parts)
    incoming.append((length, b.block))
    b.branch(done)
    return incoming


def _site(t: "Translator", b: ir.IRBuilder, insn, args, expected: bytes, other: ir.Block,
          done: ir.Block, data_len: int | None = None) -> list[tuple[ir.Value, ir.Block]]:
    """The call when its format is `expected` (r2 bytes, as found when the module was built),
    branching to `other` when it is not; the (r0, block) pairs that reach `done`.
    `data_len`: a bpf_trace_vprintk site's (r4 must be it too; the arguments are in memory)."""
    formats = module_formats(t)
    number = len(formats)
    formats.append(expected)
    fn = b.function
    pc = insn.pc
    same_size = fn.append_basic_block(f"pc{pc}.printk.sized")
    known = fn.append_basic_block(f"pc{pc}.printk.known")
    sized = b.icmp_unsigned("==", b.and_(args[1], c64(0xFFFFFFFF)), c64(len(expected)))
    if data_len is not None:
        sized = b.and_(sized, b.icmp_unsigned("==", b.and_(args[3], c64(0xFFFFFFFF)), c64(data_len)))
    b.cbranch(sized, same_size, other)
    b.position_at_end(same_size)
    host = t.memory.access(t, b, insn, args[0], len(expected), write=False, helper=True)
    b.cbranch(_matches(b, host, expected), known, other)
    incoming: list = []

    b.position_at_end(known)
    values = [args[2], args[3], args[4]] if data_len is None else _varargs(t, b, insn, args[2], data_len, incoming,
                                                                          done)
    if values is None:
        return incoming
    nul = expected.find(b"\0")
    pieces = printk.parse(expected[:nul], len(values)) if nul >= 0 else None
    if pieces is None:
        incoming.append((c64(-errno.EINVAL), b.block))
        b.branch(done)
        return incoming
    site = _Site(t, b, pc, values)
    literal = 0
    for piece in pieces:
        if isinstance(piece, bytes):
            literal += len(piece)
        else:
            site.add(piece)
    length = b.add(site.length, c64(literal))
    room = fn.append_basic_block(f"pc{pc}.printk.record")
    incoming.append((c64(-errno.ENOSPC), b.block))
    b.cbranch(site.no_room, done, room)
    b.position_at_end(room)
    # the record (printk.decode_record): the number of arguments, the arguments, each blob's size
    heads = [c64(len(values)), *values, *(size for _, size in site.blobs)]
    words = b.alloca(ir.ArrayType(I64, len(heads)))
    for k, value in enumerate(heads):
        b.store(value, b.gep(words, [c64(0), c64(k)]))
    parts = [(b.bitcast(words, I8P), c64(8 * len(heads))), *site.blobs]
    append_event(t, b, insn, c64(PRINTK_MAP), c64(number), parts)
    incoming.append((length, b.block))
    b.branch(done)
    return incoming


def _varargs(t: "Translator", b: ir.IRBuilder, insn, data, data_len: int, incoming: list,
             done: ir.Block) -> list | None:
    """bpf_trace_vprintk's arguments: the data_len / 8 u64s at `data`, read as the Python
    helper reads them (runtime/helpers.py trace_vprintk); None where data_len itself makes
    the call -EINVAL (`incoming` has it), and -EINVAL for a NULL `data`."""
    count = printk.vararg_count(data_len)
    if count is None:
        incoming.append((c64(-errno.EINVAL), b.block))
        b.branch(done)
        return None
    if not count:
        return []
    fn = b.function
    given = fn.append_basic_block(f"pc{insn.pc}.printk.data")
    incoming.append((c64(-errno.EINVAL), b.block))
    b.cbranch(b.icmp_unsigned("==", data, c64(0)), done, given)
    b.position_at_end(given)
    host = b.bitcast(t.memory.access(t, b, insn, data, data_len, write=False, helper=True), I64.as_pointer())
    return [b.load(b.gep(host, [c64(k)]), align=1) for k in range(count)]
