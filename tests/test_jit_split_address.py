"""Checked accesses take their region from the base register (memory.MemoryModel._split)
and the run-time state they read is kept across the program's own stores (TBAA): an
access whose offset carries the address into the next or previous region, packet
rewrites between reads, and ctx reads through a moved pointer all behave as on the vm."""

from __future__ import annotations

import pytest

from test_jit_diff import PACKETS, agree_with_vm, both, program

CROSSING = {
    # packet pointer moved to the top of its region's 4 GiB; the offset crosses into the next id
    "packet offset crosses up": """
        r2 = *(u32 *)(r1 + 0)
        r3 = 0x7ffffff0 ll
        r2 += r3
        r0 = *(u8 *)(r2 + 0x20)
        exit""",
    # ... and to the bottom; a negative offset crosses into the previous id
    "packet offset crosses down": """
        r2 = *(u32 *)(r1 + 0)
        r3 = 0x80000000 ll
        r2 -= r3
        r0 = *(u8 *)(r2 - 8)
        exit""",
    "stack write crosses up": """
        r2 = r10
        r3 = 0x7ffffe00 ll
        r2 += r3
        *(u64 *)(r2 + 0x300) = 1
        r0 = 2
        exit""",
    "ctx read through a pointer from the region below": """
        r2 = r1
        r3 = 0x80000000 ll
        r2 -= r3
        r3 = 0x80000000 ll
        r2 -= r3
        r0 = *(u32 *)(r2 + 0x10)
        exit""",
}


@pytest.mark.parametrize("name", list(CROSSING))
def test_offsets_crossing_a_region_boundary_fault_as_on_the_vm(name):
    agree_with_vm(CROSSING[name], faults=True)


def test_reads_after_packet_writes_and_adjust_head_see_the_new_state():
    """Stores through a packet pointer do not change the checks' state, adjust_head does."""
    text = """
        r6 = r1
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 14
        if r4 > r3 goto drop
        r5 = *(u8 *)(r2 + 0)
        *(u8 *)(r2 + 1) = r5
        *(u16 *)(r2 + 12) = r5
        r5 = *(u16 *)(r2 + 12)
        r1 = r6
        r2 = 4
        call 44
        if r0 != 0 goto drop
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 10
        if r4 > r3 goto drop
        r0 = *(u8 *)(r2 + 9)
        *(u8 *)(r2 + 0) = r0
        r0 = 3
        exit
    drop:
        r0 = 1
        exit"""
    outcomes = both(program(text), PACKETS)
    assert any(result[0] == "XDP_TX" for result in outcomes[0]), "some packets were meant to be rewritten"
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]
