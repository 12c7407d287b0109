"""Which scalars' exact values and which stack slots can matter: the kernel's precision
marks and stack liveness, as dataflow over the CFG.

The kernel's mark_chain_precision backtracks, path by path, from every place a
scalar's value decides safety (a branch, pointer arithmetic, a helper argument,
the return value) and marks the scalars it was computed from "precise"; when
pruning, a scalar that is not precise in the explored state matches any scalar.

Here the same idea is a backward dataflow over all paths: `precise[pc]` is the
(register mask, stack slot mask) of the current frame whose values may still
flow into such a use.  Uses: both operands of conditional jumps where values
decided something (the outcome, an infeasible side, a linked copy's bounds, a
pointer operand; kernel check_cond_jmp_op and bt_sync_linked_regs) -- any other
conditional jump only passes precision between its register operands, as
backtrack_insn does -- both operands of add/sub where a pointer took part, of
mul/div/mod where the profile's rules check their ranges (the nfp's; the kernel
marks nothing there: a hash multiplied in a loop stays imprecise and the loop converges),
memory access bases, the argument registers of helpers (as many as each takes)
and subprograms (r1-r5), r0 at the exits of subprograms and callbacks (the
program's own return value decides nothing: the kernel range-checks it only for
devmap/cpumap programs, and the pointer-leak check is on its type).
Values flow through ALU operations, moves and the stack: a store with r10 as
base into slot s, a load from s; loads and stores through other bases that
pointed into the stack count for every slot, and a value stored into a caller's
frame is a use (it may decide something after this function returned).  Calls of subprograms and
callbacks (which can read this frame through pointers) make every slot precise.

Which add/sub saw a pointer, which accesses went through a stack pointer and
which conditional jumps values decided are what the walk has observed so far
(`Observed`).  That is enough: an explored
state prunes only after all its continuations were walked, and a state it
subsumes has the same register types (only scalars are compared loosely), so
takes no path with other types than those already observed.

Stack liveness (`live slots`, Linux 6.18's liveness.c does the same): a slot of
the current frame is live before an instruction when some path from there reads
it before overwriting all of it.  Reads are what the walk observed (loads, helper
arguments, atomics, partial writes where the profile forbids corrupting a spilled
pointer); a store of 8 bytes to r10+off overwrites its slot; calls of subprograms
and callbacks read every slot.  A dead slot of an explored state matches anything
when pruning.  The same argument makes the observations enough.
"""

from __future__ import annotations

from . import codes
from .cfg import CODE, PC, SIZE_OF_CODE, Cfg
from .state import SLOT

_MUL, _DIV, _MOD = codes.OP_MUL, codes.OP_DIV, codes.OP_MOD  # the nfp rules check their operands
ALL_SLOTS = 0xFFFFFFFFFFFFFFFF  # 512 bytes of stack = 64 slots
_ONE = 1  # (slot masks are unsigned 64-bit C integers when compiled: precision.pxd)
CALLER_SAVED = 0b111111  # r0-r5
_NOTHING = (0, 0, 0)
# Plain ints for the per-instruction transfer (codes.py: enum members cost a class lookup each).
_CALL, _EXIT_CODE, _ALU, _ALU64, _JMP, _JMP32 = codes.CALL, codes.EXIT, codes.ALU, codes.ALU64, codes.JMP, codes.JMP32
_LD, _LDX, _ST, _STX, _LD_IMM64 = codes.LD, codes.LDX, codes.ST, codes.STX, codes.LD_IMM64
_MEM, _DW = codes.MODE_MEM, codes.SIZE_DW
_MOV, _EXIT, _CALL_OP, _JA = codes.OP_MOV, codes.OP_EXIT, codes.OP_CALL, codes.OP_JA
_NEG, _END = codes.OP_NEG, codes.OP_END  # no effect on precision
_CODE_AT, _PC_AT = CODE, PC  # a row's fields: C integer indices compiled (precision.pxd)
_IND, _ATOMIC = codes.MODE_IND, codes.MODE_ATOMIC


class Observed:
    """What the walk saw, per pc: add/sub with a pointer operand, accesses through a
    stack pointer other than r10, the slots of its own frame an instruction read.  All
    only grow; `news` lists each pc whose observations grew, in order (append-only, so
    that every reader can keep its own place in it)."""

    def __init__(self, range_checked: bool = False):
        self.range_checked = range_checked  # mul/div/mod operands matter (the profile's rules check them)
        self.pointer_arith: set[int] = set()
        self.stack_via_pointer: set[int] = set()
        self.caller_stores: set[int] = set()  # stores through a pointer into a caller's frame
        self.value_branches: set[int] = set()
        self.stack_reads: dict[int, int] = {}
        self.call_slots: dict[int, int] = {}  # helper calls whose decision read these slots' values
        self.news: list[int] = []

    def pointer_arith_at(self, pc: int) -> None:
        if pc not in self.pointer_arith:
            self.pointer_arith.add(pc)
            self.news.append(pc)

    def stack_via_pointer_at(self, pc: int) -> None:
        if pc not in self.stack_via_pointer:
            self.stack_via_pointer.add(pc)
            self.news.append(pc)

    def caller_store_at(self, pc: int) -> None:
        """A store through a pointer into a caller's stack: the value stored may decide something
        after this function returns, where this frame's analysis does not reach (the kernel's
        walk backwards follows it there: the history notes the frame and slot of the access)."""
        if pc not in self.caller_stores:
            self.caller_stores.add(pc)
            self.news.append(pc)

    def value_branch_at(self, pc: int) -> None:
        if pc not in self.value_branches:
            self.value_branches.add(pc)
            self.news.append(pc)

    def call_slots_at(self, pc: int, slots: int) -> None:
        """A helper call decided something from the values in these slots (a constant map key
        that made a lookup non-NULL: get_constant_map_key marks it precise)."""
        old = self.call_slots.get(pc, 0)
        if slots & ~old:
            self.call_slots[pc] = old | slots
            self.news.append(pc)

    def stack_read_at(self, pc: int, slots: int) -> None:
        old = self.stack_reads.get(pc, 0)
        if slots & ~old:
            self.stack_reads[pc] = old | slots
            self.news.append(pc)


def slot_mask(lo, hi):  # ints; types: precision.pxd
    """Mask of the slots holding the stack bytes [lo, hi) (negative offsets from r10;
    bytes outside the 512-byte stack are left out)."""
    lo, hi = max(lo, -512), min(hi, 0)
    if lo >= hi:
        return 0
    low, high = (-hi) // SLOT, (-lo - 1) // SLOT
    return (ALL_SLOTS >> (63 - (high - low))) << low  # high - low + 1 ones (no 1 << 64 in C)


def _live_transfer(row: tuple, live, bpf_loop, seen: Observed):  # types: precision.pxd
    """Slots of the current frame live before an instruction (a cfg row), given those live after it."""
    pc, code, dst, src, off, _ = row
    cls = code & 0x07
    if cls == _JMP or cls == _JMP32:
        op = code & 0xF0
        if op == _EXIT:
            return 0
        if op == _CALL_OP and (src == 1 or bpf_loop):
            return ALL_SLOTS
    elif (cls == _ST or cls == _STX) and dst == 10 and code & 0xE0 == _MEM and code & 0x18 == _DW \
            and off % SLOT == 0 and -512 <= off < 0:
        live &= ~(_ONE << ((-off - 1) // SLOT))  # the whole slot is overwritten
    return live | seen.stack_reads.get(pc, 0)


def _transfer(row: tuple, regs, slots, bpf_loop, seen: Observed, args) -> tuple:  # types: precision.pxd
    """(regs, slots) precise before an instruction (a cfg row), given those precise after it;
    `args`: the registers a call or exit passes on (Precision.info)."""
    pc, code, dst, src, off, _ = row
    cls = code & 0x07
    bit_dst, bit_src = 1 << dst, 1 << src
    if cls == _ALU or cls == _ALU64:
        op = code & 0xF0
        uses_src = bool(code & 0x08)
        if op == _MOV:
            if regs & bit_dst:
                regs &= ~bit_dst
                if uses_src:
                    regs |= bit_src
            return regs, slots
        if op == _NEG or op == _END:
            return regs, slots
        if ((op == _MUL or op == _DIV or op == _MOD) and seen.range_checked) or (uses_src and pc in seen.pointer_arith):
            return regs | bit_dst | (bit_src if uses_src else 0), slots
        if regs & bit_dst and uses_src:
            regs |= bit_src
        return regs, slots
    if cls == _JMP or cls == _JMP32:
        op = code & 0xF0
        if op == _EXIT:
            return args, 0  # r0 if it goes back to a caller; nothing else of this frame survives
        if op == _CALL_OP:
            regs &= ~CALLER_SAVED
            if src == 1 or bpf_loop:  # subprograms and callbacks may read this frame's stack
                slots = ALL_SLOTS
            return regs | args, slots | seen.call_slots.get(pc, 0)
        if op == _JA:
            return regs, slots
        # A conditional jump (kernel backtrack_insn and check_cond_jmp_op): a use of its
        # operands where values decided something; else it passes precision between them.
        if pc in seen.value_branches:
            return regs | bit_dst | (bit_src if code & 0x08 else 0), slots
        if code & 0x08 and regs & (bit_dst | bit_src):
            return regs | bit_dst | bit_src, slots
        return regs, slots
    if cls == _LD:
        if code == _LD_IMM64:
            return regs & ~bit_dst, slots
        return (regs & ~CALLER_SAVED) | (1 << 6) | (bit_src if (code & 0xE0) == _IND else 0), slots
    if cls == _LDX:
        if regs & bit_dst:
            regs &= ~bit_dst
            if src == 10:
                slots |= slot_mask(off, off + SIZE_OF_CODE[code & 0x18])
            elif pc in seen.stack_via_pointer:
                slots = ALL_SLOTS
        return regs | bit_src, slots
    # ST / STX: the base always matters
    regs |= bit_dst
    if cls == _ST:
        return regs, slots
    if (code & 0xE0) == _ATOMIC:  # reads and writes memory; fetches load into src (cmpxchg: r0)
        regs |= bit_src | 1
        if dst == 10:
            slots |= slot_mask(off, off + SIZE_OF_CODE[code & 0x18])
        elif pc in seen.stack_via_pointer:
            slots = ALL_SLOTS
        return regs, slots
    if dst == 10:
        if slots & slot_mask(off, off + SIZE_OF_CODE[code & 0x18]):
            regs |= bit_src
    elif pc in seen.caller_stores or (pc in seen.stack_via_pointer and slots):
        regs |= bit_src
    return regs, slots


def _passes_on(cfg: Cfg, row: tuple, main_end) -> int:  # types: precision.pxd
    """The registers a call or exit hands on: a call's arguments, r0 from the exit of a
    subprogram or callback (the program's own exit, before `main_end`, hands on nothing)."""
    code = row[_CODE_AT]
    if code == _CALL:
        return cfg.args_read(row)
    return int(code == _EXIT_CODE and row[_PC_AT] >= main_end)


class Precision:
    """precise[pc] = (registers, slots, live slots) kept up to date as the walk observes
    more (a worklist over predecessors: a new observation at pc only re-propagates from
    there).  `table` and `info` are lists by slot.

    Where no successor comes before its instruction, one pass in reverse pc order is the
    whole solution, and it is made lazily: down to the lowest pc asked about so far
    (`frontier`).  A parser that only ever compares states at its exit sweeps a handful
    of instructions.  With a loop or a backward jump, the pass covers everything and a
    worklist goes on from that under-approximation."""

    def __init__(self, cfg: Cfg, seen: Observed):
        self.seen = seen
        self.cfg = cfg
        self.rows = cfg.rows
        self.main_end = cfg.subprog_starts[1] if len(cfg.subprog_starts) > 1 else 1 << 62
        size = cfg.slots
        self.info = [None] * size
        self.table = [_NOTHING] * size
        self.preds = None  # built at the first solve
        self.next_row = len(self.rows) - 1  # the sweep goes on from here, downwards
        self.frontier = size  # every slot from here up is solved
        self.consumed = len(seen.news)  # what the table takes into account
        if cfg.backward:
            self._sweep_down_to(0)
            # Only an instruction with a backward successor read a mask the sweep had not
            # made yet; a worklist from those reaches everything that depends on them.
            self._solve(list(cfg.backward))

    def _sweep_down_to(self, pc) -> None:  # types: precision.pxd
        """Extend the reverse-pc pass over every instruction at or after pc; info[pc] is
        (row, successors, a bpf_loop call?, registers a call or exit hands on)."""
        rows, info, table, cfg = self.rows, self.info, self.table, self.cfg
        succ_of, callbacks, main_end = cfg.succ, cfg.callback_calls, self.main_end  # read once, not per row
        i = self.next_row
        while i >= 0 and rows[i][0] >= pc:
            row = rows[i]
            at = row[PC]
            info[at] = (row, succ_of[at], at in callbacks, _passes_on(cfg, row, main_end))
            table[at] = self._step(at)
            self.frontier = at
            i -= 1
        self.next_row = i

    def _step(self, pc) -> tuple:  # types: precision.pxd
        """The masks before pc from those of its successors."""
        row, succ, bpf_loop, args = self.info[pc]
        table = self.table
        regs = slots = live = 0
        for s in succ:
            r, sl, lv = table[s]
            regs |= r
            slots |= sl
            live |= lv
        regs, slots = _transfer(row, regs, slots, bpf_loop, self.seen, args)
        return regs, slots, _live_transfer(row, live, bpf_loop, self.seen)

    def at(self, pc) -> tuple[int, int, int]:  # types: precision.pxd
        """(precise register mask, precise slot mask, live slot mask) before the instruction at pc."""
        news = self.seen.news
        if len(news) != self.consumed:
            fresh = news[self.consumed:]
            self.consumed = len(news)
            frontier = self.frontier  # below it, the sweep will read the observations itself
            self._solve(sorted({p for p in fresh if p >= frontier}))
        if pc < self.frontier:
            self._sweep_down_to(pc)
        return self.table[pc]

    def _solve(self, work: list) -> None:  # types: precision.pxd
        """The worklist of the backward dataflow: pc is recomputed from its successors (masks
        only grow: merged with what pc had) and, when that changed, its predecessors are due
        again; a slot below the frontier is left to the sweep, which computes it when it gets
        there.  (A loop here, not a callback per pc: compiled, each is a C call.)"""
        table, frontier = self.table, self.frontier
        if self.preds is None:
            self.preds = self.cfg.predecessors()
        preds = self.preds
        pending = set(work)
        while work:
            pc = work.pop()
            pending.discard(pc)
            if pc < frontier:
                continue
            new_regs, new_slots, new_live = self._step(pc)
            old = table[pc]
            merged = (new_regs | old[0], new_slots | old[1], new_live | old[2])
            if merged != old:
                table[pc] = merged
                for p in preds[pc]:
                    if p not in pending:
                        pending.add(p)
                        work.append(p)


def compute(cfg: Cfg, seen: Observed) -> list[tuple[int, int, int]]:
    """By slot: (precise register mask, precise slot mask, live slot mask) before the
    instruction there, from scratch."""
    precision = Precision(cfg, seen)
    precision.at(cfg.rows[0][PC])
    return precision.table
