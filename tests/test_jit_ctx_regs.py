"""Context loads through a register that holds the context on every path (runtime/jit/
ctx_regs.py) skip the run-time region check: the analysis on its own (moves, calls,
joins, subprograms), and every such load against the vm, with loads that must still fault
(misaligned, past xdp_md, through a register that may hold something else).  A run that
starts the program with another r1 (xdp_run: the conformance suite's memory in r1) reads
through the checked path: test_jit_conformance covers it."""

from __future__ import annotations

import pytest

from test_jit_diff import agree_with_vm

from xdptool.ebpf.asm import assemble
from xdptool.runtime.jit.ctx_regs import ctx_registers


def holding(text: str) -> dict[int, set[int]]:
    return {pc: set(regs) for pc, regs in ctx_registers(assemble(text)).items()}


def test_the_analysis_follows_moves_and_forgets_at_writes_calls_and_joins():
    state = holding("""
        r6 = r1
        r2 = *(u32 *)(r6 + 0)
        if r2 > 5 goto other
        r7 = r6
        goto join
    other:
        r7 = 0
    join:
        call 5
        r1 = r6
        w8 = w6
        r1 = 5
        exit""")
    assert state[0] == {1}
    assert state[1] == state[3] == {1, 6}
    assert state[4] == {1, 6, 7}  # goto join
    assert state[5] == {1, 6}  # other
    assert state[6] == {1, 6}  # the join: r7 is the context on one path only
    assert state[7] == {6}  # after a helper call: r1-r5 scratched, r6 kept
    assert state[8] == {1, 6}  # r1 = r6
    assert state[9] == {1, 6}  # w8 = w6 truncates: r8 is no pointer
    assert state[10] == {6}  # r1 = 5


def test_a_subprogram_starts_knowing_nothing_and_r6_survives_a_local_call():
    state = holding("""
        r6 = r1
        call sub
        r0 = *(u32 *)(r6 + 0)
        exit
    sub:
        r0 = *(u32 *)(r1 + 0)
        exit""")
    assert state[2] == {6}
    assert 4 not in state  # reached only through the call


LOADS = {
    "every field through r1 and a copy": """
        r6 = r1
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = *(u32 *)(r1 + 8)
        r5 = *(u32 *)(r6 + 12)
        r0 = *(u32 *)(r6 + 16)
        r0 += r5
        r0 += r4
        r3 -= r2
        r0 += r3
        r0 &= 3
        exit""",
    "after a helper call, through r6": """
        r6 = r1
        r2 = -4
        call 44
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r0 = r3
        r0 -= r2
        r0 &= 3
        exit""",
}

FAULTING = {
    "misaligned": """
        r0 = *(u32 *)(r1 + 2)
        exit""",
    "past xdp_md": """
        r0 = *(u32 *)(r1 + 64)
        exit""",
    "a byte": """
        r0 = *(u8 *)(r1 + 0)
        exit""",
    "before the context": """
        r0 = *(u32 *)(r1 - 4)
        exit""",
}

# the analysis does not claim r1 here: whatever the engines leave in it, both read the same
UNCLAIMED = {
    "r1 after a helper call": """
        call 7
        r0 = *(u32 *)(r1 + 0)
        r0 &= 3
        exit""",
    "r1 the packet on one path": """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 12
        if r4 > r3 goto skip
        r1 = r2
    skip:
        r5 = *(u32 *)(r1 + 0)
        if r4 > r3 goto out
        *(u32 *)(r2 + 8) = r5
    out:
        r0 = 3
        exit""",  # packet bytes 0-3 copied to 8-11 (a context field read there would show instead)
}


@pytest.mark.parametrize("name", list(LOADS))
def test_context_loads_agree_with_the_vm(name):
    agree_with_vm(LOADS[name], faults=False)


@pytest.mark.parametrize("name", list(FAULTING))
def test_bad_context_loads_fault_as_on_the_vm(name):
    agree_with_vm(FAULTING[name], faults=True)


@pytest.mark.parametrize("name", list(UNCLAIMED))
def test_loads_through_a_register_not_certainly_the_context_agree_with_the_vm(name):
    agree_with_vm(UNCLAIMED[name])
