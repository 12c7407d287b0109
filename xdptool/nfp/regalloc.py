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

Step 2 - registers, per bank: George & Appel's iterated register coalescing
(TOPLAS 1996; Appel, "Modern Compiler Implementation", ch. 11).  Build the
interference graph from liveness (a definition interferes with everything live
after it, except the source of a move); then repeat: *simplify* (remove a
non-move-related node of degree < K, it will always find a colour), *coalesce*
(merge the two ends of a move when that cannot make the graph uncolourable:
Briggs' test - the merged node has fewer than K neighbours of significant
degree - or George's test for a precoloured end), *freeze* (give up coalescing
a low-degree move-related node), *potential spill* (remove a high-degree node,
cheapest first: uses+defs over degree), until the graph is empty; then *select*
colours popping the stack.  A node that finds no colour is an actual spill: it
gets an LM word (image.py: words 5..15 of the thread's area) and every use and
definition goes through a short-lived temporary; allocation restarts.

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

from ..errors import InternalError, XdpError
from . import abi
from .image import LM_SPILL_FIRST, LM_SPILL_LAST
from .isa import ALU_IGNORES_A, NfpInsn, mov
from .liveness import eliminate_dead_code, insert, live_out, remove
from .registers import Gpr, Lm, VReg, is_reg


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
        order = sorted(vregs, key=lambda v: -len(self.live_points.get(v, ())))
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
            for other in edges.get(node, ()):
                if other not in parity:
                    parity[other] = 1 - parity[node]
                    if isinstance(other, Gpr):
                        continue  # a pinned register does not carry the colouring further
                    seen.add(other)
                    queue.append(other)
        return component, parity


# == step 2: iterated register coalescing, one bank ===================================================
class Colouring:
    """Appel's worklists, for the nodes of one bank (see the module docstring)."""

    def __init__(self, insns, labels, bank: str, banks: dict, K: int, no_spill: set):
        self.K = K
        self.bank = bank
        self.precoloured: dict = {}
        self.adj: set = set()
        self.adj_list: dict = defaultdict(set)
        self.degree: dict = defaultdict(int)
        self.move_list: dict = defaultdict(set)
        self.moves: set = set()
        self.alias: dict = {}
        self.colour: dict = {}
        self.no_spill = no_spill
        self.uses: dict = defaultdict(int)
        nodes: set = set()

        def mine(r) -> bool:
            if isinstance(r, Gpr):
                return r.bank in (bank, "AB")
            return banks.get(r) == bank

        live = live_out(insns, labels)
        for index, insn in enumerate(insns):
            defs = [d for d in insn.defs() if mine(d)]
            uses = [u for u in insn.uses() if mine(u)]
            for r in defs + uses:
                nodes.add(r)
                self.uses[r] += 1
            out = {r for r in live[index] if mine(r)}
            if insn.is_move and mine(insn.dst) and mine(insn.b):
                out.discard(insn.b)
                move = (index, insn.dst, insn.b)
                self.moves.add(move)
                self.move_list[insn.dst].add(move)
                self.move_list[insn.b].add(move)
            for d in defs:
                for other in out | set(defs):
                    self.add_edge(d, other)
        for n in nodes:
            if isinstance(n, Gpr):
                self.precoloured[n] = n.index
                self.colour[n] = n.index
        self.initial = {n for n in nodes if n not in self.precoloured}

    def add_edge(self, u, v) -> None:
        if u == v or (u, v) in self.adj:
            return
        self.adj.add((u, v))
        self.adj.add((v, u))
        for a, b in ((u, v), (v, u)):
            if a not in self.precoloured:
                self.adj_list[a].add(b)
                self.degree[a] += 1

    # -- the algorithm ----------------------------------------------------------------------------
    def run(self) -> tuple[dict, set]:
        K = self.K
        self.simplify_wl, self.freeze_wl, self.spill_wl = set(), set(), set()
        self.coalesced, self.constrained, self.frozen = set(), set(), set()
        self.worklist_moves = set(self.moves)
        self.active_moves: set = set()
        self.coalesced_nodes: set = set()
        self.stack: list = []
        self.spilled: set = set()
        for n in self.initial:
            if self.degree[n] >= K:
                self.spill_wl.add(n)
            elif self.move_related(n):
                self.freeze_wl.add(n)
            else:
                self.simplify_wl.add(n)
        while self.simplify_wl or self.worklist_moves or self.freeze_wl or self.spill_wl:
            if self.simplify_wl:
                self.simplify()
            elif self.worklist_moves:
                self.coalesce()
            elif self.freeze_wl:
                self.freeze()
            else:
                self.select_spill()
        self.assign_colours()
        return self.colour, self.spilled

    def node_moves(self, n) -> set:
        return self.move_list[n] & (self.active_moves | self.worklist_moves)

    def move_related(self, n) -> bool:
        return bool(self.node_moves(n))

    def adjacent(self, n) -> set:
        return self.adj_list[n] - set(self.stack) - self.coalesced_nodes

    def simplify(self) -> None:
        n = self.simplify_wl.pop()
        self.stack.append(n)
        for m in self.adjacent(n):
            self.decrement_degree(m)

    def decrement_degree(self, m) -> None:
        d = self.degree[m]
        self.degree[m] = d - 1
        if d == self.K and m not in self.precoloured:
            self.enable_moves({m} | self.adjacent(m))
            self.spill_wl.discard(m)
            if self.move_related(m):
                self.freeze_wl.add(m)
            else:
                self.simplify_wl.add(m)

    def enable_moves(self, nodes) -> None:
        for n in nodes:
            for m in self.node_moves(n):
                if m in self.active_moves:
                    self.active_moves.discard(m)
                    self.worklist_moves.add(m)

    def get_alias(self, n):
        while n in self.coalesced_nodes:
            n = self.alias[n]
        return n

    def add_worklist(self, u) -> None:
        if u not in self.precoloured and not self.move_related(u) and self.degree[u] < self.K:
            self.freeze_wl.discard(u)
            self.simplify_wl.add(u)

    def ok(self, t, r) -> bool:
        return self.degree[t] < self.K or t in self.precoloured or (t, r) in self.adj

    def conservative(self, nodes) -> bool:
        return sum(1 for n in nodes if self.degree[n] >= self.K or n in self.precoloured) < self.K

    def coalesce(self) -> None:
        m = self.worklist_moves.pop()
        _, x, y = m
        x, y = self.get_alias(x), self.get_alias(y)
        u, v = (y, x) if y in self.precoloured else (x, y)
        if u == v:
            self.coalesced.add(m)
            self.add_worklist(u)
        elif v in self.precoloured or (u, v) in self.adj:
            self.constrained.add(m)
            self.add_worklist(u)
            self.add_worklist(v)
        elif (u in self.precoloured and all(self.ok(t, u) for t in self.adjacent(v))) or \
                (u not in self.precoloured and self.conservative(self.adjacent(u) | self.adjacent(v))):
            self.coalesced.add(m)
            self.combine(u, v)
            self.add_worklist(u)
        else:
            self.active_moves.add(m)

    def combine(self, u, v) -> None:
        if v in self.freeze_wl:
            self.freeze_wl.discard(v)
        else:
            self.spill_wl.discard(v)
        self.coalesced_nodes.add(v)
        self.alias[v] = u
        self.move_list[u] |= self.move_list[v]
        self.enable_moves({v})
        for t in self.adjacent(v):
            self.add_edge(t, u)
            self.decrement_degree(t)
        if self.degree[u] >= self.K and u in self.freeze_wl:
            self.freeze_wl.discard(u)
            self.spill_wl.add(u)

    def freeze(self) -> None:
        u = self.freeze_wl.pop()
        self.simplify_wl.add(u)
        self.freeze_moves(u)

    def freeze_moves(self, u) -> None:
        for m in list(self.node_moves(u)):
            _, x, y = m
            v = self.get_alias(y) if self.get_alias(x) == self.get_alias(u) else self.get_alias(x)
            self.active_moves.discard(m)
            self.frozen.add(m)
            if v not in self.precoloured and not self.node_moves(v) and self.degree[v] < self.K:
                self.freeze_wl.discard(v)
                self.simplify_wl.add(v)

    def select_spill(self) -> None:
        def cost(n) -> float:
            if n in self.no_spill:
                return float("inf")
            return self.uses[n] / max(1, self.degree[n])

        m = min(self.spill_wl, key=lambda n: (cost(n), str(n)))
        self.spill_wl.discard(m)
        self.simplify_wl.add(m)
        self.freeze_moves(m)

    def assign_colours(self) -> None:
        while self.stack:
            n = self.stack.pop()
            taken = {self.colour[self.get_alias(w)] for w in self.adj_list[n]
                     if self.get_alias(w) in self.colour}
            free = [c for c in range(self.K) if c not in taken]
            if free:
                self.colour[n] = free[0]
            else:
                self.spilled.add(n)
        for n in self.coalesced_nodes:
            a = self.get_alias(n)
            if a in self.colour:
                self.colour[n] = self.colour[a]
            else:
                self.spilled.add(n)


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
        for v in touched:
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
        colours, spilled = {}, set()
        for bank in ("A", "B"):
            c, s = Colouring(insns, labels, bank, banks, K, no_spill).run()
            colours.update(c)
            spilled |= s
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
