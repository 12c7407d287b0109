"""Register allocation for the NFP: banks by 2-colouring, registers by iterated coalescing.

The problem.  An NFP instruction reads its two sources from two different
register banks (A and B), or from a bank and another class (immediate, LM,
transfer, NN).  A thread has K registers per bank: 16 when the ME runs 8
contexts, 32 with 4.  Values are 32-bit virtual registers (lower.py).

Step 1 - banks (Zhuang & Pande, PACT 2003).  The *register conflict graph* has
an edge between two virtual registers that are the two register sources of one
instruction (for ld_field: the field's destination, which is read, and its
source).  A bank assignment is a 2-colouring of that graph.  Odd cycles make it
impossible; each edge left monochromatic after a BFS colouring is fixed by
copying one source into a fresh register of the other bank right before the
instruction (the copy has one source, so it constrains nothing).  Components
of the graph can be flipped freely and registers without conflict edges can go
to either bank: both are placed where the register pressure (values live at
the same time, per bank) stays lowest, move partners preferring each other's
bank so that the move can be coalesced.  We assign banks *before* colouring
because a bank-less colouring cannot be split into two banks of K afterwards
without spills it did not foresee; the pressure-guided choice recovers most of
what "allocate first" gains (ibid.).

Step 2 - registers, per bank: the bank is a register class, coloured by the
target-independent iterated register coalescing of codegen/regalloc.py (George &
Appel).  A value it cannot colour is spilled here: it gets an LM word (image.py:
words 5..15 of the thread's area) and every use and definition goes through a
short-lived temporary; allocation restarts.  Every choice is made in program
order or by `register_key`, never by hash, so the image is the same in every
process.

The firmware convention pins A0 and B0 (firmware.py): they are precoloured
nodes, so values live across a routine call interfere with them.  All GPRs
are context-relative, so a value live across a context swap (a memory command
with ctx_swap, a firmware call) stays in the thread's own registers: no other
thread can touch them (Zhuang & Pande, PLDI 2004, need this only for shared
registers, which we never allocate).

`contexts`: "auto" takes 8 contexts when both banks colour with 16 registers
and no spill, else 4 (32 + 32, spilling if even that is short); 8 or 4 force it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from ..codegen.regalloc import Problem, colour
from ..errors import InternalError, XdpError
from . import abi
from .image import LM_SPILL_FIRST, LM_SPILL_LAST
from .isa import ALU_IGNORES_A, NfpInsn, mov
from .liveness import eliminate_dead_code, insert, live_out, remove
from .registers import Gpr, Lm, VReg, is_reg, register_key


class AllocatorInvariant(InternalError):
    """The allocator broke one of its own guarantees (a bug, not a property of the program)."""


class NeedsSpill(Exception):
    """Colouring with this many registers would spill (and spilling was not allowed)."""


@dataclass
class Allocation:
    insns: list[NfpInsn]
    labels: dict[str, int]
    contexts: int
    spill_slots: int
    used: dict[str, int]  # bank -> registers used
    stats: dict = field(default_factory=dict)


# == step 1: banks ==================================================================================
def source_pairs(insn: NfpInsn) -> tuple | None:
    spec = insn.spec
    if not spec.pair:
        return None
    first, second = (getattr(insn, f) for f in spec.pair)
    if insn.kind == "alu" and insn.op in ALU_IGNORES_A:
        return None
    if is_reg(first) and is_reg(second):
        if any(isinstance(r, Gpr) and r.bank == "AB" for r in (first, second)):
            return None  # a register written to both banks pairs with anything
        return first, second
    return None


def _bank_of(reg, banks: dict) -> str | None:
    return reg.bank if isinstance(reg, Gpr) else banks.get(reg)


class BankAssigner:
    def __init__(self, insns: list[NfpInsn], labels: dict[str, int], ids):
        self.insns, self.labels, self.ids = insns, labels, ids

    def run(self) -> tuple[list[NfpInsn], dict[str, int], dict[VReg, str]]:
        insns = self.insns
        edges: dict = defaultdict(set)
        for insn in insns:
            pair = source_pairs(insn)
            if pair:
                a, b = pair
                edges[a].add(b)
                edges[b].add(a)
        pressure = self._pressure()
        # move partners: the same bank lets the allocator coalesce the move away
        self.partners: dict = defaultdict(list)
        for insn in insns:
            if insn.is_move:
                self.partners[insn.dst].append(insn.b)
                self.partners[insn.b].append(insn.dst)
        banks: dict[VReg, str] = {}
        # components of the conflict graph, biggest first; precoloured GPRs anchor theirs
        seen: set = set()
        vregs = self._vregs()
        order = sorted(vregs, key=lambda v: (-len(self.live_points.get(v, ())), register_key(v)))
        for start in [g for g in edges if isinstance(g, Gpr)] + order:
            if start in seen or (start not in edges and isinstance(start, Gpr)):
                continue
            component, parity = self._bfs(start, edges, seen)
            fixed = [(n, p) for n, p in parity.items() if isinstance(n, Gpr)]
            if fixed:
                anchor, anchor_parity = fixed[0]
                other = "B" if anchor.bank == "A" else "A"
                for n, p2 in parity.items():
                    if isinstance(n, VReg):
                        banks[n] = anchor.bank if p2 == anchor_parity else other
            else:
                best = min(("A", "B"), key=lambda first: self._cost(parity, first, pressure, banks))
                for n, p2 in parity.items():
                    banks[n] = best if not p2 else ("B" if best == "A" else "A")
            for n in component:
                if isinstance(n, VReg):
                    self._add_pressure(n, banks[n], pressure)
        for insn in insns:  # an indirect shift amount is read from the A field (lower.set_amount)
            if insn.meta.get("a_bank") and isinstance(insn.a, VReg):
                banks[insn.a] = insn.meta["a_bank"]
        # fix monochromatic edges (odd cycles) with copies into the other bank
        before: dict[int, list[NfpInsn]] = defaultdict(list)
        for index, insn in enumerate(insns):
            pair = source_pairs(insn)
            if not pair:
                continue
            a, b = pair
            ba, bb = _bank_of(a, banks), _bank_of(b, banks)
            if ba is not None and ba == bb:
                victim_field = insn.spec.pair[1] if isinstance(b, VReg) else insn.spec.pair[0]
                victim = getattr(insn, victim_field)
                if not isinstance(victim, VReg) and victim_field == "dst":
                    raise XdpError("NFP allocation: cannot separate the banks of a pinned ld_field")
                t = VReg(next(self.ids), "bank")
                banks[t] = "B" if ba == "A" else "A"
                before[index].append(mov(t, victim))
                if victim_field == "dst":  # ld_field reads and writes dst: work on the copy, copy back
                    raise XdpError("NFP allocation: ld_field destination in a bank conflict")
                setattr(insn, victim_field, t)
        self.fixups = sum(len(v) for v in before.values())
        insns, labels = insert(insns, self.labels, before)
        return insns, labels, banks

    def _vregs(self) -> set:
        out = set()
        for insn in self.insns:
            out.update(r for r in insn.uses() + insn.defs() if isinstance(r, VReg))
        return out

    def _pressure(self) -> dict[str, list[int]]:
        live = live_out(self.insns, self.labels)
        self.live_points: dict = defaultdict(list)
        for index, regs in enumerate(live):
            for r in regs | set(self.insns[index].defs()):
                self.live_points[r].append(index)
        return {"A": [0] * len(self.insns), "B": [0] * len(self.insns)}

    def _add_pressure(self, v, bank: str, pressure) -> None:
        for point in self.live_points.get(v, ()):
            pressure[bank][point] += 1

    def _cost(self, parity, first: str, pressure, banks) -> tuple:
        """(registers beyond 16 in a bank, moves left between banks, peak pressure): lower is better."""
        other = "B" if first == "A" else "A"
        extra = {"A": defaultdict(int), "B": defaultdict(int)}
        cross = 0
        for n, p in parity.items():
            bank = first if not p else other
            for point in self.live_points.get(n, ()):
                extra[bank][point] += 1
            for partner in self.partners.get(n, ()):
                theirs = _bank_of(partner, banks)
                if partner in parity:
                    theirs = first if not parity[partner] else other
                cross += theirs is not None and theirs != bank
        peak = max([pressure[b][pt] + c for b in ("A", "B") for pt, c in extra[b].items()] or [0])
        return max(0, peak - abi.regs_per_bank(8)), cross, peak

    @staticmethod
    def _bfs(start, edges, seen) -> tuple[list, dict]:
        parity = {start: 0}
        queue = [start]
        seen.add(start)
        component = []
        while queue:
            node = queue.pop()
            component.append(node)
            for other in sorted(edges.get(node, ()), key=register_key):
                if other not in parity:
                    parity[other] = 1 - parity[node]
                    if isinstance(other, Gpr):
                        continue  # a pinned register does not carry the colouring further
                    seen.add(other)
                    queue.append(other)
        return component, parity


# == step 2: iterated register coalescing, one bank (codegen/regalloc.py) ==================================
def _colour_bank(insns, labels, bank: str, banks: dict, K: int, no_spill: set) -> tuple[dict, list]:
    """One bank's values coloured with K registers: the bank is the register class."""

    def member(r) -> bool:
        if isinstance(r, Gpr):
            return r.bank in (bank, "AB")
        return banks.get(r) == bank

    return colour(Problem(
        insns, live_out(insns, labels), defs=NfpInsn.defs, uses=NfpInsn.uses,
        move=lambda insn: (insn.dst, insn.b) if insn.is_move else None, member=member,
        precolour=lambda r: r.index if isinstance(r, Gpr) else None, key=register_key, K=K, no_spill=no_spill,
    ))


# == spilling =========================================================================================
def rewrite_spills(insns, labels, spilled: set, banks: dict, slots: dict, ids, no_spill: set):
    """Give each spilled register an LM word; uses load it into a temporary, definitions store one."""
    for v in spilled:
        if v not in slots:
            slot = LM_SPILL_FIRST + len(slots)
            if slot > LM_SPILL_LAST:
                raise XdpError(f"register pressure too high: more than {LM_SPILL_LAST - LM_SPILL_FIRST + 1} "
                               "spilled values (spilling beyond the directly addressable LM is not implemented)")
            slots[v] = slot
    before: dict[int, list] = defaultdict(list)
    after: dict[int, list] = defaultdict(list)
    for index, insn in enumerate(insns):
        touched = {r for r in insn.uses() + insn.defs() if r in spilled}
        if not touched:
            continue
        mapping = {}
        for v in sorted(touched, key=register_key):
            t = VReg(next(ids), "spill")
            banks[t] = banks[v]
            no_spill.add(t)
            mapping[v] = t
            if v in insn.uses():
                before[index].append(mov(t, Lm(0, slots[v])))
            if v in insn.defs():
                after[index].append(mov(Lm(0, slots[v]), t))
        insn.replace_regs(lambda r: mapping.get(r, r))
    return insert(insns, labels, before, after)


# == the driver ====================================================================================
def _colour_all(insns, labels, banks, K, allow_spill, ids, stats):
    slots: dict = {}
    no_spill: set = set()
    for _ in range(20):
        colours, spilled = {}, []
        for bank in ("A", "B"):
            c, s = _colour_bank(insns, labels, bank, banks, K, no_spill)
            colours.update(c)
            spilled += [v for v in s if v not in spilled]
        if not spilled:
            return insns, labels, colours, slots
        if not allow_spill:
            raise NeedsSpill
        stats["spilled_values"] = stats.get("spilled_values", 0) + len(spilled)
        insns, labels = rewrite_spills(insns, labels, spilled, banks, slots, ids, no_spill)
    raise AllocatorInvariant("NFP register allocation did not converge")


def allocate(insns: list[NfpInsn], labels: dict[str, int], contexts="auto", first_id: int = 1 << 20,
             dce: bool = True) -> Allocation:
    insns = [i.copy() for i in insns]
    ids = itertools.count(first_id)
    if dce:
        insns, labels = eliminate_dead_code(insns, dict(labels))
    assigner = BankAssigner(insns, labels, ids)
    insns, labels, banks = assigner.run()
    stats = {"bank_fixups": assigner.fixups}
    tries = [(8, False), (4, True)] if contexts == "auto" else [(int(contexts), True)]
    for ctx, allow_spill in tries:
        K = abi.regs_per_bank(ctx)
        attempt, attempt_banks = [i.copy() for i in insns], dict(banks)
        try:
            final, final_labels, colours, slots = _colour_all(attempt, dict(labels), attempt_banks, K,
                                                              allow_spill, ids, stats)
        except NeedsSpill:
            continue
        return _finish(final, final_labels, colours, attempt_banks, ctx, slots, stats)
    raise AllocatorInvariant("NFP register allocation failed")


def _finish(insns, labels, colours, banks, contexts, slots, stats) -> Allocation:
    def physical(r):
        if isinstance(r, VReg):
            bank = banks.get(r)
            if bank is None:  # spill temporaries record their bank in the same table
                raise AllocatorInvariant(f"NFP allocation: {r} has no bank")
            return Gpr(bank, colours[r])
        return r

    used = {"A": set(), "B": set()}
    for insn in insns:
        insn.replace_regs(physical)
        for r in (getattr(insn, f) for f in insn.operand_fields()):  # not a call's declared clobbers
            if isinstance(r, Gpr):
                for bank in ("A", "B") if r.bank == "AB" else (r.bank,):
                    used[bank].add(r.index)
    drop = {i for i, insn in enumerate(insns) if insn.is_move and insn.dst == insn.b}
    insns, labels = remove(insns, labels, drop)
    stats["coalesced_moves"] = len(drop)
    return Allocation(insns, labels, contexts, len(slots), {b: len(s) for b, s in used.items()}, stats)
