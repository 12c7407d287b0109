"""The target-independent allocator on a toy machine (nothing NFP about it).

The toy machine has straight-line three-address instructions `(dst, srcs)`, a
copy is `(dst, (src,))` marked as a move, and K registers.  Liveness and the
interference the colouring must respect are computed here, independently of
codegen/regalloc.py: two values interfere when one is defined while the other
is live afterwards (a copy's source excepted).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from xdptool.codegen.regalloc import Problem, colour


@dataclass(frozen=True)
class Insn:
    dst: str | None
    srcs: tuple[str, ...] = ()
    is_move: bool = False


def live_out(insns: list[Insn], exit_live: frozenset[str] = frozenset()) -> list[set[str]]:
    live, out = set(exit_live), []
    for insn in reversed(insns):
        out.append(set(live))
        live.discard(insn.dst)
        live.update(insn.srcs)
    return out[::-1]


def interference(insns: list[Insn], outs: list[set[str]]) -> set[frozenset[str]]:
    edges = set()
    for insn, out in zip(insns, outs):
        for other in out:
            if insn.dst and other != insn.dst and not (insn.is_move and other == insn.srcs[0]):
                edges.add(frozenset((insn.dst, other)))
    return edges


def problem(insns: list[Insn], K: int, fixed: dict[str, int] | None = None, key=str, exit_live=frozenset()) -> Problem:
    fixed = fixed or {}
    return Problem(
        insns, live_out(insns, exit_live), defs=lambda i: [i.dst] if i.dst else [], uses=lambda i: list(i.srcs),
        move=lambda i: (i.dst, i.srcs[0]) if i.is_move else None, member=lambda r: True,
        precolour=lambda r: fixed.get(r), key=key, K=K,
    )


def assert_valid(insns: list[Insn], colours: dict, spilled: list, K: int) -> None:
    for edge in interference(insns, live_out(insns)):
        a, b = tuple(edge)
        if a in colours and b in colours:
            assert colours[a] != colours[b], f"{a} and {b} interfere but share colour {colours[a]}"
    assert all(0 <= c < K for c in colours.values())
    assert not set(spilled) & set(colours)


def test_three_values_live_together_take_three_colours():
    insns = [Insn("a"), Insn("b"), Insn("c"), Insn("d", ("a", "b")), Insn("e", ("d", "c")), Insn(None, ("e",))]
    colours, spilled = colour(problem(insns, K=3))
    assert spilled == []
    assert len({colours["a"], colours["b"], colours["c"]}) == 3
    assert_valid(insns, colours, spilled, 3)


def test_a_copy_between_values_that_do_not_interfere_is_coalesced():
    insns = [Insn("a"), Insn("b", ("a",), is_move=True), Insn("c", ("b",)), Insn(None, ("c",))]
    colours, spilled = colour(problem(insns, K=2))
    assert spilled == [] and colours["a"] == colours["b"]


def test_too_few_registers_spill_the_cheapest_value():
    # a, b, c all live at the last instruction; with K = 2 one must go: `c` is used
    # least for its degree (once), `a` and `b` are used twice each
    insns = [Insn("a"), Insn("b"), Insn("x", ("a", "b")), Insn("c"), Insn("y", ("a", "b")), Insn(None, ("x", "y", "c"))]
    colours, spilled = colour(problem(insns, K=2))
    assert spilled, "three values live at once do not fit two registers"
    assert_valid(insns, colours, spilled, 2)


def test_machine_registers_keep_their_colour_and_others_avoid_them():
    insns = [Insn("r0"), Insn("a"), Insn("b", ("a", "r0")), Insn(None, ("b",))]
    colours, spilled = colour(problem(insns, K=2, fixed={"r0": 1}))
    assert spilled == [] and colours["r0"] == 1 and colours["a"] == 0


@dataclass(frozen=True, eq=False)
class Scrambled:
    """A register whose hash is random: the allocation must not depend on it."""

    name: str
    salt: int

    def __hash__(self) -> int:
        return self.salt

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scrambled) and other.name == self.name


def test_the_allocation_does_not_depend_on_hashing():
    rng = random.Random(3)
    base = random_program(rng, values=14)
    results = set()
    for seed in range(4):
        salts = random.Random(seed)
        regs = {n: Scrambled(n, salts.getrandbits(60)) for n in {i.dst for i in base if i.dst} | {s for i in base for s in i.srcs}}
        insns = [Insn(regs[i.dst] if i.dst else None, tuple(regs[s] for s in i.srcs), i.is_move) for i in base]
        colours, spilled = colour(problem(insns, K=4, key=lambda r: r.name))
        results.add((tuple(sorted((r.name, c) for r, c in colours.items())), tuple(r.name for r in spilled)))
    assert len(results) == 1


def random_program(rng: random.Random, values: int) -> list[Insn]:
    names = [f"v{i}" for i in range(values)]
    insns, defined = [], []
    for name in names:
        if defined and rng.random() < 0.3:
            insns.append(Insn(name, (rng.choice(defined),), is_move=True))
        else:
            insns.append(Insn(name, tuple(rng.sample(defined, min(len(defined), rng.randint(0, 2))))))
        defined.append(name)
    insns.append(Insn(None, tuple(rng.sample(defined, min(4, len(defined))))))
    return insns


@pytest.mark.parametrize("seed", range(40))
def test_random_programs_colour_validly(seed):
    rng = random.Random(seed)
    insns = random_program(rng, values=rng.randint(3, 25))
    K = rng.randint(2, 6)
    colours, spilled = colour(problem(insns, K=K))
    assert_valid(insns, colours, spilled, K)
    peak = max(len(out | {i.dst} - {None}) for i, out in zip(insns, live_out(insns)))
    if peak <= K and not any(i.is_move for i in insns):
        assert spilled == [], "a straight-line program whose values fit K registers colours without spills"
