"""Iterated register coalescing for one register class of any machine.

George & Appel, "Iterated register coalescing" (TOPLAS 1996); Appel, "Modern
Compiler Implementation", ch. 11.  From liveness, build the interference graph (a
definition interferes with everything live after it, except the source of a
move); then repeat until the graph is empty: *simplify* (remove a node that is
not move-related and has fewer than K neighbours: it will always find a colour),
*coalesce* (merge the two ends of a move when that cannot make the graph
uncolourable: Briggs' test, the merged node has fewer than K neighbours of
significant degree, or George's test for a precoloured end), *freeze* (give up
coalescing a low-degree move-related node), *potential spill* (remove a
high-degree node, cheapest first: uses over degree); then *select* colours
popping the stack.  A node that finds no colour is an actual spill; rewriting
the program around it is the target's business (it knows its memories).

The target describes one class's problem as data (`Problem`): the instructions,
what is live after each, each instruction's defs, uses and copy, which registers
belong to the class, the machine registers' fixed colours, and a total order on
registers.  Register classes with constraints between them (the NFP's banks A and
B: an instruction's two register sources must come from different banks) are
assigned by the target first; each class is then coloured here on its own.

Every worklist is ordered (insertion order, ties broken by `Problem.key`), so the
allocation is a function of the program alone: it never depends on hashing,
which Python randomises per process for strings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable, Iterator, Sequence


class OrderedSet:
    """A set that iterates and pops in insertion order."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable = ()):
        self._items = dict.fromkeys(items)

    def add(self, item) -> None:
        self._items[item] = None

    def discard(self, item) -> None:
        self._items.pop(item, None)

    def pop(self):
        item = next(iter(self._items))
        del self._items[item]
        return item

    def __contains__(self, item) -> bool:
        return item in self._items

    def __iter__(self) -> Iterator:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __or__(self, other: Iterable) -> "OrderedSet":
        return OrderedSet([*self._items, *other])


@dataclass
class Problem:
    """One register class of one program, as the target describes it."""

    insns: Sequence[Any]
    live_out: Sequence[Iterable[Hashable]]  # registers live after each instruction
    defs: Callable[[Any], Sequence[Hashable]]
    uses: Callable[[Any], Sequence[Hashable]]
    move: Callable[[Any], tuple[Hashable, Hashable] | None]  # (dst, src) of a register copy
    member: Callable[[Hashable], bool]  # the register belongs to this class
    precolour: Callable[[Hashable], int | None]  # a machine register's fixed colour
    key: Callable[[Hashable], Any]  # a total order on registers
    K: int  # colours (machine registers) in the class
    no_spill: set = field(default_factory=set)  # spill temporaries: never spill again


def colour(problem: Problem) -> tuple[dict, list]:
    """(register -> colour, registers that must be spilled)."""
    return _Colouring(problem).run()


class _Colouring:
    def __init__(self, p: Problem):
        self.p, self.K = p, p.K
        self.precoloured: dict = {}
        self.adj: set = set()
        self.adj_list: dict = defaultdict(OrderedSet)
        self.degree: dict = defaultdict(int)
        self.move_list: dict = defaultdict(OrderedSet)
        self.moves = OrderedSet()
        self.alias: dict = {}
        self.colour: dict = {}
        self.uses: dict = defaultdict(int)
        nodes = OrderedSet()
        for index, insn in enumerate(p.insns):
            defs = [d for d in p.defs(insn) if p.member(d)]
            uses = [u for u in p.uses(insn) if p.member(u)]
            for r in defs + uses:
                nodes.add(r)
                self.uses[r] += 1
            out = sorted({r for r in p.live_out[index] if p.member(r)}, key=p.key)
            copy = p.move(insn)
            if copy is not None and p.member(copy[0]) and p.member(copy[1]):
                dst, src = copy
                out = [r for r in out if r != src]
                move = (index, dst, src)
                self.moves.add(move)
                self.move_list[dst].add(move)
                self.move_list[src].add(move)
            for d in defs:
                for other in [*out, *defs]:
                    self.add_edge(d, other)
        for n in nodes:
            fixed = p.precolour(n)
            if fixed is not None:
                self.precoloured[n] = self.colour[n] = fixed
        self.initial = [n for n in nodes if n not in self.precoloured]

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
    def run(self) -> tuple[dict, list]:
        K = self.K
        self.simplify_wl, self.freeze_wl, self.spill_wl = OrderedSet(), OrderedSet(), OrderedSet()
        self.worklist_moves = OrderedSet(self.moves)
        self.active_moves = OrderedSet()
        self.coalesced_nodes = OrderedSet()
        self.stack: list = []
        self.on_stack: set = set()
        self.spilled: list = []
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

    def node_moves(self, n) -> list:
        return [m for m in self.move_list[n] if m in self.active_moves or m in self.worklist_moves]

    def move_related(self, n) -> bool:
        return bool(self.node_moves(n))

    def adjacent(self, n) -> list:
        return [m for m in self.adj_list[n] if m not in self.on_stack and m not in self.coalesced_nodes]

    def simplify(self) -> None:
        n = self.simplify_wl.pop()
        self.stack.append(n)
        self.on_stack.add(n)
        for m in self.adjacent(n):
            self.decrement_degree(m)

    def decrement_degree(self, m) -> None:
        d = self.degree[m]
        self.degree[m] = d - 1
        if d == self.K and m not in self.precoloured:
            self.enable_moves([m, *self.adjacent(m)])
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
            self.add_worklist(u)
        elif v in self.precoloured or (u, v) in self.adj:
            self.add_worklist(u)
            self.add_worklist(v)
        elif (u in self.precoloured and all(self.ok(t, u) for t in self.adjacent(v))) or \
                (u not in self.precoloured and self.conservative(OrderedSet(self.adjacent(u)) | self.adjacent(v))):
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
        for m in self.move_list[v]:
            self.move_list[u].add(m)
        self.enable_moves([v])
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
        for m in self.node_moves(u):
            _, x, y = m
            v = self.get_alias(y) if self.get_alias(x) == self.get_alias(u) else self.get_alias(x)
            self.active_moves.discard(m)
            if v not in self.precoloured and not self.node_moves(v) and self.degree[v] < self.K:
                self.freeze_wl.discard(v)
                self.simplify_wl.add(v)

    def select_spill(self) -> None:
        no_spill, key = self.p.no_spill, self.p.key

        def cost(n) -> tuple:
            return (float("inf") if n in no_spill else self.uses[n] / max(1, self.degree[n]), key(n))

        m = min(self.spill_wl, key=cost)
        self.spill_wl.discard(m)
        self.simplify_wl.add(m)
        self.freeze_moves(m)

    def assign_colours(self) -> None:
        while self.stack:
            n = self.stack.pop()
            taken = {self.colour[self.get_alias(w)] for w in self.adj_list[n] if self.get_alias(w) in self.colour}
            free = next((c for c in range(self.K) if c not in taken), None)
            if free is None:
                self.spilled.append(n)
            else:
                self.colour[n] = free
        for n in self.coalesced_nodes:
            a = self.get_alias(n)
            if a in self.colour:
                self.colour[n] = self.colour[a]
            else:
                self.spilled.append(n)
