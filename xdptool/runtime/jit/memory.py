"""Checked memory access in IR, over the runtime's tagged address space.

The interpreter's addresses (xdptool/runtime/memory.py) are
``(region id << 32) | (ORIGIN + offset)``; native code uses the very same
values, so pointers a program computes, compares or stores are identical in
both engines.  Translation is one table lookup: the env's region table holds,
per region id, the host address of the region's buffer, its valid window
``[lo, hi)`` and whether it is writable.  Ids without a region have an empty
window, so one range check covers unmapped addresses too.

A failed check records the access (address, size, write) and the region's
window, and stops the packet; Python formats the message with the
interpreter's own code (`AddressSpace.resolve`), so both engines word faults
identically.  The context region is not memory: its fields are values
(the packet pointers from the env's packet state, the rest from
`env.ctx_values`), read only as aligned u32 fields, like the kernel's rewrite
of `xdp_md` loads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...platform.ctx import XDP_MD, XDP_MD_SIZE, CtxKind
from ..memory import ORIGIN, REGION_SHIFT
from .env import ENV, R_HI, R_HOST, R_LO, R_WRITABLE, REGION_WORDS, FaultKind
from .irtypes import I8, I64, I8P, I64P, c64, join
from .layout import ACCESS_HELPER

if TYPE_CHECKING:
    from .translate import Translator




class Aliasing:
    """Type-based alias classes (LLVM TBAA) that let LLVM keep the run-time state an
    access check reads (env fields, region table entries) in registers across the
    program's own stores: "guest" is memory the program reads and writes through a
    checked pointer (packet, stack, map values, globals), "runtime" the env and the
    region table, which no guest pointer can reach.  Untagged accesses (helpers,
    the packet loop, every store to the env) still alias both."""

    def __init__(self, module: ir.Module):
        root = module.add_metadata(["xdptool memory"])
        self.tags = {}
        for name in ("guest", "runtime", "written"):
            kind = module.add_metadata([name, root, ir.Constant(I64, 0)])
            self.tags[name] = module.add_metadata([kind, kind, ir.Constant(I64, 0)])

    def guest(self, instr) -> ir.Instruction:
        instr.set_metadata("tbaa", self.tags["guest"])
        return instr

    def runtime(self, instr) -> ir.Instruction:
        instr.set_metadata("tbaa", self.tags["runtime"])
        return instr

    def written(self, instr) -> ir.Instruction:
        """env.pkt_written, a class of its own: its updates at every store move no other state."""
        instr.set_metadata("tbaa", self.tags["written"])
        return instr


def ctx_field_at(offset: int, size: int) -> bool:
    """Whether a load of `size` bytes at `offset` from the context reads a field (the
    check of load_value's ctx branch: aligned u32 fields inside xdp_md; anything else faults)."""
    return size == 4 and offset % 4 == 0 and 0 <= offset < XDP_MD_SIZE


# Where the engine keeps each pointer field of xdp_md (the scalar ones are in ctx_values).
POINTER_STATE = {CtxKind.PACKET: "pkt_data", CtxKind.PACKET_END: "pkt_end", CtxKind.PACKET_META: "pkt_meta"}


class MemoryModel:
    """Emits address translation, the context read path, and frame pointers."""

    def __init__(self, stack_size: int, zeroed: int | None = None):
        self.stack_size = stack_size
        # bytes at the top of a frame zeroed when it starts: those the program can reach (stack_use.py)
        self.zeroed = stack_size if zeroed is None else zeroed
        self.aliasing: Aliasing | None = None  # set per module (tag)

    def tag(self, module: ir.Module) -> None:
        """Tag this module's guest accesses and check reads (see Aliasing)."""
        self.aliasing = Aliasing(module)

    def guest(self, instr) -> ir.Instruction:
        return self.aliasing.guest(instr) if self.aliasing is not None else instr

    def _state(self, b: ir.IRBuilder, env: ir.Value, name: str, index=0) -> ir.Value:
        """An env field a check reads (tagged runtime: guest stores do not change it)."""
        instr = ENV.load(b, env, name, index)
        return self.aliasing.runtime(instr) if self.aliasing is not None else instr

    def _entry(self, b: ir.IRBuilder, env: ir.Value, rid: ir.Value, word: int) -> ir.Value:
        table = b.inttoptr(self._state(b, env, "regions"), I64P)
        index = b.add(b.mul(rid, c64(REGION_WORDS)), c64(word))
        instr = b.load(b.gep(table, [index]))
        return self.aliasing.runtime(instr) if self.aliasing is not None else instr

    @staticmethod
    def _split(b: ir.IRBuilder, addr: ir.Value, parts) -> tuple[ir.Value, ir.Value]:
        """(region id, offset in the region) of `addr`.  With `parts` = (base register,
        constant offset) they come from the base: every access through one register then
        shares its id and table entries.  That equals the address's own split whenever
        the access can succeed: an offset crossing a 2**32 boundary puts the base's
        offset outside [0, 2**31), outside every region's window, so both fail (and the
        fault is worded from the full address either way)."""
        if parts is None:
            rid = b.lshr(addr, c64(REGION_SHIFT))
            return rid, b.sub(b.and_(addr, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
        base, constant = parts[0], parts[1]
        rid = b.lshr(base, c64(REGION_SHIFT))
        off = b.sub(b.and_(base, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
        return rid, b.add(off, c64(constant))

    def _host(self, b: ir.IRBuilder, env: ir.Value, rid: ir.Value, off: ir.Value) -> ir.Value:
        """The host pointer (i8*) of offset `off` in region `rid`."""
        return b.inttoptr(b.add(self._entry(b, env, rid, R_HOST), off), I8P)

    def _unchecked(self, b: ir.IRBuilder, env: ir.Value, parts, size: int, write: bool) -> ir.Value | None:
        """The host pointer of an access that cannot fault, which needs no check, else None.
        `parts` = (base register, offset, frame, proven), see Translator._address:
        - frame: the base is r10 and no instruction writes r10, and the access lies inside
          the frame.  r10 is then always the top of the current frame's stack region
          (enter_frame), a region always mapped, writable, [0, stack_size) and neither the
          context nor the packet: the interpreter's check always passes, and no packet byte
          is written.
        - proven: the verifier proved the access inside the packet (proofs.py); a write
          still marks the packet written."""
        if parts is None:
            return None
        if parts[3]:
            rid, off = self._split(b, None, parts)
            if write:
                self.note_write(b, env, rid)
            return self._host(b, env, rid, off)
        start = self.stack_size + parts[1]
        if not parts[2] or start < 0 or start + size > self.stack_size:
            return None
        rid, _offset = self._split(b, None, parts)
        return self._host(b, env, rid, c64(start))

    def _fault(self, t: "Translator", b: ir.IRBuilder, pc: int, addr: ir.Value, size: ir.Value | int,
               write: bool, helper: bool = False) -> None:
        ENV.store(b, t.env, "fault_write", c64(int(write) | (ACCESS_HELPER if helper else 0)))
        t.fault(b, FaultKind.MEMORY, pc, addr, size)

    def access(self, t: "Translator", b: ir.IRBuilder, insn, addr: ir.Value, size: ir.Value | int,
               write: bool, atomic: bool = False, helper: bool = False, parts=None) -> ir.Value:
        """Host pointer (i8*) for a checked access of `size` bytes at `addr`
        (`helper`: a helper's bulk read/write, which the interpreter words apart;
        `size` may then be a run-time value, and an access of 0 bytes is never checked,
        as AddressSpace.read/write do not check it; `parts`: see _split)."""
        env = t.env
        if not isinstance(size, int):
            return self._sized_access(t, b, insn, addr, size, write)
        unchecked = self._unchecked(b, env, parts, size, write)
        if unchecked is not None:
            return unchecked
        rid, off = self._split(b, addr, parts)
        count = self._state(b, env, "region_count")
        mapped = b.icmp_unsigned("<", rid, count)
        safe_rid = b.select(mapped, rid, c64(0))  # id 0 has an empty window
        lo = self._entry(b, env, safe_rid, R_LO)
        hi = self._entry(b, env, safe_rid, R_HI)
        ok = b.and_(b.icmp_signed(">=", off, lo), b.icmp_signed("<=", b.add(off, c64(size)), hi))
        if write:
            writable = self._entry(b, env, safe_rid, R_WRITABLE)
            ok = b.and_(ok, b.icmp_unsigned("!=", writable, c64(0)))
            self.note_write(b, env, safe_rid)
        is_ctx = b.icmp_unsigned("==", safe_rid, self._state(b, env, "ctx_id"))
        plain = b.and_(ok, b.not_(is_ctx))
        fault_block = b.append_basic_block(f"pc{insn.pc}.fault")
        good = b.append_basic_block(f"pc{insn.pc}.mem")
        b.cbranch(plain, good, fault_block)
        fb = ir.IRBuilder(fault_block)
        self._fault(t, fb, insn.pc, addr, size, write, helper)
        b.position_at_end(good)
        return self._host(b, env, safe_rid, off)

    def _sized_access(self, t: "Translator", b: ir.IRBuilder, insn, addr: ir.Value, size: ir.Value,
                      write: bool) -> ir.Value:
        """A helper's access of a run-time number of bytes (at most 2**32 - 1)."""
        env = t.env
        rid = b.lshr(addr, c64(REGION_SHIFT))
        mapped = b.icmp_unsigned("<", rid, ENV.load(b, env, "region_count"))
        safe_rid = b.select(mapped, rid, c64(0))
        off = b.sub(b.and_(addr, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
        lo = self._entry(b, env, safe_rid, R_LO)
        hi = self._entry(b, env, safe_rid, R_HI)
        ok = b.and_(b.icmp_signed(">=", off, lo), b.icmp_signed("<=", b.add(off, size), hi))
        if write:
            ok = b.and_(ok, b.icmp_unsigned("!=", self._entry(b, env, safe_rid, R_WRITABLE), c64(0)))
            self.note_write(b, env, safe_rid)
        ok = b.and_(ok, b.icmp_unsigned("!=", safe_rid, ENV.load(b, env, "ctx_id")))
        ok = b.or_(ok, b.icmp_unsigned("==", size, c64(0)))
        fault_block = b.append_basic_block(f"pc{insn.pc}.fault")
        good = b.append_basic_block(f"pc{insn.pc}.mem")
        b.cbranch(ok, good, fault_block)
        self._fault(t, ir.IRBuilder(fault_block), insn.pc, addr, size, write, True)
        b.position_at_end(good)
        return self._host(b, env, safe_rid, off)

    def note_write(self, b: ir.IRBuilder, env: ir.Value, rid: ir.Value) -> None:
        """env.pkt_written |= (this write is to the packet region), before the access is checked
        (a faulting write stops the run, which then counts as written anyway)."""
        to_packet = b.zext(b.icmp_unsigned("==", rid, self._state(b, env, "pkt_id")), I64)
        flag = ENV.pointer(b, env, "pkt_written")
        old = b.load(flag)
        new = b.store(b.or_(old, to_packet), flag)
        if self.aliasing is not None:
            self.aliasing.written(old)
            self.aliasing.written(new)

    def mark_written(self, b: ir.IRBuilder, env: ir.Value) -> None:
        """env.pkt_written = 1: a helper that can reach the packet is called."""
        store = b.store(c64(1), ENV.pointer(b, env, "pkt_written"))
        if self.aliasing is not None:
            self.aliasing.written(store)

    @staticmethod
    def ctx_field(b: ir.IRBuilder, env: ir.Value, off: ir.Value) -> ir.Value:
        """xdp_md field at byte offset `off` (checked: aligned, in the struct): the pointer
        fields are computed from the packet state, the rest read from ctx_values."""
        value = ENV.load(b, env, "ctx_values", b.lshr(off, c64(2)))
        base = ENV.load(b, env, "pkt_base")
        for field in XDP_MD:
            if field.is_pointer:
                pointer = b.add(base, ENV.load(b, env, POINTER_STATE[field.kind]))
                value = b.select(b.icmp_unsigned("==", off, c64(field.offset)), pointer, value)
        return value

    def _loaded(self, b: ir.IRBuilder, ptr: ir.Value, size: int):
        """The i64 a guest load of `size` bytes at host pointer `ptr` gives (zero-extended)."""
        ty = ir.IntType(size * 8)
        raw = self.guest(b.load(b.bitcast(ptr, ty.as_pointer()), align=1))
        return b.zext(raw, I64) if size < 8 else raw

    def load_value(self, t: "Translator", b: ir.IRBuilder, insn, addr: ir.Value, size: int,
                   parts=None) -> ir.Value:
        """i64 loaded (zero-extended) from `addr`: the context's fields or checked memory."""
        env = t.env
        unchecked = self._unchecked(b, env, parts, size, write=False)
        if unchecked is not None:
            return self._loaded(b, unchecked, size)
        rid, split_off = self._split(b, addr, parts)
        is_ctx = b.icmp_unsigned("==", rid, self._state(b, env, "ctx_id"))
        ctx_block = b.append_basic_block(f"pc{insn.pc}.ctx")
        mem_block = b.append_basic_block(f"pc{insn.pc}.load")
        done = b.append_basic_block(f"pc{insn.pc}.loaded")
        b.cbranch(is_ctx, ctx_block, mem_block)

        cb = ir.IRBuilder(ctx_block)
        off = split_off
        # at run time what ctx_field_at decides at translation
        aligned = cb.icmp_unsigned("==", cb.and_(off, c64(3)), c64(0))
        in_range = cb.icmp_unsigned("<", off, c64(XDP_MD_SIZE))
        ok = cb.and_(aligned, in_range) if size == 4 else ir.Constant(ir.IntType(1), 0)
        ctx_ok = cb.append_basic_block(f"pc{insn.pc}.ctxok")
        ctx_bad = cb.append_basic_block(f"pc{insn.pc}.ctxbad")
        cb.cbranch(ok, ctx_ok, ctx_bad)
        self._fault(t, ir.IRBuilder(ctx_bad), insn.pc, addr, size, False)
        cb.position_at_end(ctx_ok)
        ctx_value = self.ctx_field(cb, env, off)
        cb.branch(done)

        mb = ir.IRBuilder(mem_block)
        ptr = self.access(t, mb, insn, addr, size, write=False, parts=parts)
        mem_value = self._loaded(mb, ptr, size)
        mem_end = mb.block
        mb.branch(done)

        return join(b, done, [(ctx_value, ctx_ok), (mem_value, mem_end)])

    def load_expected_field(self, t: "Translator", b: ir.IRBuilder, insn, addr: ir.Value, size: int,
                            parts) -> ir.Value:
        """load_value of a load expected to read the context field at insn.off (ctx_regs.py, and
        ctx_field_at holds): when the base register is the context pointer itself, that field,
        decided with one compare; otherwise load_value's checked path.  The expectation is
        only a hint: a run through xdp_run may start the program with any r1."""
        env = t.env
        exact = b.icmp_unsigned("==", parts[0], self._state(b, env, "ctx_base"))
        field_block = b.append_basic_block(f"pc{insn.pc}.field")
        other_block = b.append_basic_block(f"pc{insn.pc}.notctx")
        done = b.append_basic_block(f"pc{insn.pc}.read")
        b.cbranch(exact, field_block, other_block)
        fb = ir.IRBuilder(field_block)
        field = self.ctx_field(fb, env, c64(insn.off))
        fb.branch(done)
        ob = ir.IRBuilder(other_block)
        other = self.load_value(t, ob, insn, addr, size, parts)
        other_end = ob.block
        ob.branch(done)
        return join(b, done, [(field, field_block), (other, other_end)])

    def imm64_value(self, t: "Translator", b: ir.IRBuilder, insn) -> ir.Value:
        """ld_imm64: a constant, or (map references, global data, function pointers) a
        value the engine resolves per map store, read from `env.imm_table`."""
        if insn.reloc is None and insn.src == 0:
            return c64(insn.imm64)
        slot = t.imm_slots.setdefault((t.unit.index, insn.pc), len(t.imm_slots))
        table = b.inttoptr(ENV.load(b, t.env, "imm_table"), I64P)
        return b.load(b.gep(table, [c64(slot)]))

    def frame_pointer(self, t: "Translator", b: ir.IRBuilder, depth: ir.Value) -> ir.Value:
        """R10 of call frame `depth`, whose stack is zeroed first (as the interpreter does)."""
        return self.enter_frame(t.module, b, t.env, depth)

    def enter_frame(self, module: ir.Module, b: ir.IRBuilder, env: ir.Value, depth: ir.Value) -> ir.Value:
        """R10 of frame `depth`, the frame's reachable top (`zeroed` bytes) cleared: what no run
        can reach keeps whatever it held, which no run can see (the interpreter clears it all)."""
        rid = ENV.load(b, env, "stack_ids", depth)
        self.clear_top(module, b, self.reachable_top(b, env, rid))
        return self.stack_pointer(b, rid)

    def stack_pointer(self, b: ir.IRBuilder, rid: ir.Value) -> ir.Value:
        """R10 of the frame whose stack is region `rid`."""
        return b.add(b.shl(rid, c64(REGION_SHIFT)), c64(ORIGIN + self.stack_size))

    def reachable_top(self, b: ir.IRBuilder, env: ir.Value, rid: ir.Value) -> ir.Value | None:
        """Host pointer to the `zeroed` top bytes of stack region `rid` (None: none to clear);
        a stack's bytes never move, so the pointer holds while the region does."""
        if not self.zeroed:
            return None
        host = b.inttoptr(self._entry(b, env, rid, R_HOST), I8P)
        return b.gep(host, [c64(self.stack_size - self.zeroed)])

    def clear_top(self, module: ir.Module, b: ir.IRBuilder, top: ir.Value | None) -> None:
        """Zero a frame's reachable top (`reachable_top`)."""
        if top is not None:
            memset = module.declare_intrinsic("llvm.memset", [I8P, I64])
            b.call(memset, [top, ir.Constant(I8, 0), c64(self.zeroed), ir.Constant(ir.IntType(1), 0)])
