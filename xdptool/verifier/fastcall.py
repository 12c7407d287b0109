"""bpf_fastcall: spills and fills around an inlined helper call do not count as stack.

Linux 6.12+ kernel/bpf/verifier.c (mark_fastcall_patterns, mark_fastcall_pattern_for_call,
check_fastcall_stack_contract, remove_fastcall_spills_fills): around a call, pairs

    *(u64 *)(r10 - Y) = rX   ...   call   ...   rX = *(u64 *)(r10 - Y)

at the subprogram's lowest spill offsets, innermost first (Y = lowest, lowest + 8, ...),
of registers the helper does not clobber, form the call's pattern.  When the helper is
one the kernel inlines (allow_fastcall: bpf_get_smp_processor_id on x86-64) the pairs are
removed after verification and the subprogram's stack depth drops to what lies above
them -- unless a pattern surrounds a call that is not inlined (keep_fastcall_stack), or
an instruction outside the patterns touched the stack below that boundary
(the contract: then nothing is removed in that subprogram).
"""

from __future__ import annotations

from bisect import bisect_right

from ..platform.helpers import Arg, Ret
from . import codes

_STX_DW = codes.STX | codes.MODE_MEM | codes.SIZE_DW
_LDX_DW = codes.LDX | codes.MODE_MEM | codes.SIZE_DW
_CALLER_SAVED = 0b111111  # r0-r5
S16_MIN = -(1 << 15)


class _Subprog:
    """One subprogram's fastcall facts (a plain class: a dataclass costs ~1 ms to create at the
    first analysis in a process)."""

    __slots__ = ("stack_off", "inlined", "keep_stack", "pattern_pcs")

    def __init__(self):
        self.stack_off = 1 << 15  # fastcall_stack_off: the patterns lie below it (S16_MAX: none)
        self.inlined = False  # some call's pairs would be removed (fastcall_spills_num > 0)
        self.keep_stack = False  # keep_fastcall_stack
        self.pattern_pcs: set[int] = set()  # insn_aux_data.fastcall_pattern


class Fastcall:
    """The patterns of every subprogram (found before the walk, as the kernel's check_cfg
    does), the contract as the walk's stack accesses keep or break it, and the stack
    depth each subprogram is left with."""

    def __init__(self, cfg, helpers, inlined_helpers: frozenset[int]):
        """`cfg`: the program's verifier.cfg.Cfg (its rows, instructions by pc, subprograms)."""
        starts = cfg.subprog_starts
        self.subprogs: list[_Subprog] = []
        if not cfg.calls:  # no call, no pattern: nothing to check (the checker keeps no Fastcall then)
            self.any = False
            return
        lowest = [0] * len(starts)  # per subprogram: its lowest spill offset, or 0
        calls: list[list[int]] = [[] for _ in starts]  # per subprogram: the pcs of its calls
        for pc, _, _, _, off, _ in cfg.fp_spills:  # the cfg's rows of 8-byte stores through r10
            sub = bisect_right(starts, pc) - 1
            if off < lowest[sub]:
                lowest[sub] = off
        for pc in cfg.calls:
            calls[bisect_right(starts, pc) - 1].append(pc)
        by_pc = cfg.by_pc
        for sub_lowest, sub_calls in zip(lowest, calls):
            sub_info = _Subprog()
            for pc in sub_calls:
                _mark_call(sub_info, by_pc[pc], by_pc, sub_lowest, helpers, inlined_helpers)
            self.subprogs.append(sub_info)
        self.any = any(s.pattern_pcs for s in self.subprogs)  # without patterns nothing is to be checked

    def check_access(self, subprog: int, off: int, pc: int) -> None:
        """check_fastcall_stack_contract: `off` is the lowest stack byte an access touches."""
        sub = self.subprogs[subprog]
        if sub.stack_off <= off or pc in sub.pattern_pcs:
            return
        sub.stack_off = S16_MIN
        sub.inlined = False
        sub.pattern_pcs = set()

    def stack_depth(self, subprog: int, depth: int) -> int:
        """remove_fastcall_spills_fills: the depth the subprogram keeps."""
        sub = self.subprogs[subprog]
        if sub.inlined and not sub.keep_stack:
            return -sub.stack_off
        return depth


def _mark_call(sub: _Subprog, call, by_pc: dict, lowest: int, helpers, inlined_helpers: frozenset[int]) -> None:
    """mark_fastcall_pattern_for_call."""
    stx, ldx = by_pc.get(call.pc - 1), by_pc.get(call.pc + 1)
    if (stx is None or ldx is None or stx.code != _STX_DW or ldx.code != _LDX_DW or stx.dst != 10
            or stx.off != lowest):
        return  # no spill and fill around the call (the loop below would stop at once)
    clobbered = _CALLER_SAVED
    inlined = False
    if call.src == 0:
        helper = helpers.get(call.imm)
        if helper is None or helper.unsupported:
            return  # refused later, or not checked at all
        clobbered = (0 if helper.ret is Ret.VOID else 1) | sum(
            1 << (i + 1) for i, arg in enumerate(helper.args) if arg is not Arg.DONTCARE)
        inlined = call.imm in inlined_helpers
    elif call.src == 2:
        # a kfunc: its clobbers depend on its BTF prototype; taking only r0 matches every
        # pattern the kernel could see, and calling none of them inlined keeps the stack
        clobbered = 1
    if clobbered == _CALLER_SAVED:
        return
    expected = ~clobbered & _CALLER_SAVED
    i, off = 1, lowest
    pcs = []
    while i <= 5:
        stx, ldx = by_pc.get(call.pc - i), by_pc.get(call.pc + i)
        if stx is None or ldx is None:
            break
        if not (stx.code == _STX_DW and ldx.code == _LDX_DW and stx.dst == 10 and ldx.src == 10):
            break
        if stx.src != ldx.dst or not expected >> stx.src & 1 or stx.off != off or ldx.off != off:
            break
        expected &= ~(1 << stx.src)
        pcs += [stx.pc, ldx.pc]
        i += 1
        off += 8
    if i == 1:
        return
    sub.pattern_pcs.update(pcs)
    if inlined:
        sub.inlined = True
    else:
        sub.keep_stack = True
    sub.stack_off = min(sub.stack_off, off)
