"""The structural pass's shortcuts change nothing: liveness and successors against a plain reference.

build_cfg decodes control flow from the raw fields, memoises register effects on
the fields they depend on, and stops liveness after one reverse pass when no
jump goes backwards.  The reference here recomputes both from the Instruction
properties and validate.register_effects, iterating to a fixpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.ebpf.insn import renumber
from xdptool.ebpf.opcodes import JmpOp
from xdptool.ebpf.validate import register_effects
from xdptool.elf import load_object
from xdptool.verifier import get_profile
from xdptool.verifier.cfg import build_cfg
from xdptool.verifier.fuzz import random_program

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "programs").glob("*.c"))


def _live_by_pc(cfg) -> dict[int, int]:
    """cfg.live_in (a list by slot) at the instructions' slots."""
    return {insn.pc: cfg.live_in[insn.pc] for insn in cfg.insns}


def _reference_successors(insn) -> list[int]:
    if insn.is_exit:
        return []
    if insn.is_branch:
        return [insn.target] if insn.op == JmpOp.JA else [insn.pc + 1, insn.target]
    return [insn.pc + insn.slots]


def _reference_liveness(insns, helper_args) -> dict[int, int]:
    """Round-robin fixpoint of the kernel's compute_live_registers equations."""
    gen, kill, succ = {}, {}, {}
    for insn in insns:
        if insn.is_call:
            count = helper_args.get(insn.imm, 5) if insn.is_helper_call else 5
            reads, writes = ((1 << count) - 1) << 1, 0b111111
        elif insn.is_exit:
            reads, writes = 1, 0
        else:
            r, w, k = register_effects(insn)
            reads, writes = sum(1 << x for x in r), sum(1 << x for x in w | set(k))
        gen[insn.pc], kill[insn.pc] = reads | (1 << 10), writes  # r10: always read
        succ[insn.pc] = _reference_successors(insn)
    live = {insn.pc: 0 for insn in insns}
    changed = True
    while changed:
        changed = False
        for insn in insns:  # forward order on purpose: the slowest way to converge
            pc = insn.pc
            out = 0  # an exit has no successors: r0 is all it reads
            for s in succ[pc]:
                out |= live.get(s, 0)
            new = gen[pc] | (out & ~kill[pc])
            if new != live[pc]:
                live[pc], changed = new, True
    return live


def _check(insns) -> None:
    helper_args = {f: len(h.args) for f, h in get_profile("linux").helpers.items() if not h.unsupported}
    cfg = build_cfg(insns, helper_args=helper_args)
    assert cfg.succ == {insn.pc: _reference_successors(insn) for insn in insns}
    assert _live_by_pc(cfg) == _reference_liveness(insns, helper_args)


@pytest.mark.parametrize("name", EXAMPLES)
def test_liveness_of_examples_matches_the_reference(name, built_examples):
    _check(load_object(str(built_examples[name])).program().insns)


def test_liveness_of_random_programs_matches_the_reference():
    for seed in range(40):
        _check(random_program(seed).insns)


def test_a_backward_jump_without_a_loop_needs_a_second_pass():
    """l1 lies before the jump that reaches it: r1 is live at the jump only through l1."""
    insns = renumber(assemble("r1 = 0\nr0 = 0\ngoto l2\nl1: r0 = r1\nexit\nl2: if r0 == 0 goto l1\nexit\n"))
    helper_args = {}
    cfg = build_cfg(insns, helper_args=helper_args)
    jump = insns[5].pc
    assert cfg.live_in[jump] & (1 << 1)
    assert _live_by_pc(cfg) == _reference_liveness(insns, helper_args)


def test_effect_shapes_agree_with_register_effects_for_every_opcode():
    """The per-opcode shape table, for every register pair (including dst == src and r0/r6)."""
    from xdptool.ebpf.insn import Instruction
    from xdptool.verifier.cfg import _SHAPES, Cfg, _reads_writes, rows_of

    cfg = Cfg([], {}, [], [0])
    assert len(_SHAPES) > 100
    for code in _SHAPES:
        for dst, src in ((0, 0), (1, 6), (6, 1), (3, 3), (9, 10), (10, 2)):
            reads, writes, kills = register_effects(Instruction(code, dst=dst, src=src))
            expected = (sum(1 << r for r in reads), sum(1 << r for r in set(writes) | set(kills)))
            row = rows_of([Instruction(code, dst=dst, src=src)])[0]
            assert _reads_writes(cfg, row) == expected, (hex(code), dst, src)


def test_a_recursive_call_is_a_back_edge_and_a_loop_is_a_loop_head():
    """Call edges take part in the DFS (and are never allowed back), jumps back make loop heads."""
    from xdptool.verifier.result import Reject

    recursive = renumber(assemble("r0 = 0\ncall f\nexit\nf: r0 = 0\ncall f\nexit\n"))
    with pytest.raises(Reject, match="^back-edge from insn 4 to 3$"):
        build_cfg(recursive)
    looping = renumber(assemble("r0 = 0\ncall f\nexit\nf: r0 = 1\nif r0 > 2 goto f\nexit\n"))
    assert build_cfg(looping).loop_heads == {3}
    with pytest.raises(Reject, match="^back-edge from insn 4 to 3$"):
        build_cfg(looping, allow_loops=False)


def test_liveness_around_nested_backward_jumps_reaches_the_entry():
    """Two backward jumps into one loop body, the outer one the last instruction before the exit:
    r3, read in the body only, is live at the entry through the back edges alone (the first
    reverse pass cannot see it; the passes that follow must carry it out of the loop)."""
    insns = renumber(assemble("r0 = 0\ngoto l2\nl1: r0 += r3\nr3 = 1\nif r0 < 100 goto l1\n"
                              "l2: if r0 > 5 goto l1\nexit\n"))
    helper_args = {}
    cfg = build_cfg(insns, helper_args=helper_args)
    assert cfg.live_in[insns[0].pc] & (1 << 3)
    assert _live_by_pc(cfg) == _reference_liveness(insns, helper_args)
