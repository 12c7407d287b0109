"""The packet loop's unchanged packets (runtime/jit/batch.py): a packet left where it came
is compared with its input only when something may have written it (env.pkt_written: a store
into the packet region, a helper given the context or a dynptr).  Each way of writing is
checked here against the vm: the output bytes are the vm's, and `changed` says whether they
differ from the input (or moved) -- whatever wrote them, and also when a write put back the
same bytes."""

from __future__ import annotations

from array import array

import pytest

from test_jit_diff import program
from xdptool.platform.helpers import HELPER_ID
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.vm import VmEngine

STORE_BYTES, ADJUST_TAIL = HELPER_ID["xdp_store_bytes"], HELPER_ID["xdp_adjust_tail"]

WRITERS = {
    "store_other_byte": """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 20
        if r4 > r3 goto out
        r5 = *(u8 *)(r2 + 19)
        r5 ^= 1
        *(u8 *)(r2 + 19) = r5
    out:
        r0 = 2
        exit""",
    "store_same_byte": """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 20
        if r4 > r3 goto out
        r5 = *(u8 *)(r2 + 19)
        *(u8 *)(r2 + 19) = r5
    out:
        r0 = 2
        exit""",
    "atomic_add": """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 24
        if r4 > r3 goto out
        r5 = 1
        lock *(u32 *)(r2 + 16) += r5
    out:
        r0 = 2
        exit""",
    "helper_store_bytes": f"""
        r6 = 0x55aa
        *(u64 *)(r10 - 8) = r6
        r2 = 16
        r3 = r10
        r3 += -8
        r4 = 2
        call {STORE_BYTES}
        r0 = 2
        exit""",
    "grow_and_shrink_tail": f"""
        r6 = r1
        r2 = 8
        call {ADJUST_TAIL}
        r1 = r6
        r2 = -8
        call {ADJUST_TAIL}
        r0 = 2
        exit""",
    "reads_only": """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 20
        if r4 > r3 goto out
        r0 = *(u8 *)(r2 + 19)
        *(u64 *)(r10 - 8) = r0
    out:
        r0 = 2
        exit""",
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_unchanged_packets_are_the_vms(name):
    prog = program(WRITERS[name])
    packets = [bytes(range(i, i + size)) for i, size in enumerate((14, 19, 20, 24, 60, 61, 128))]
    buffer = b"".join(packets)
    offsets = array("Q", [sum(map(len, packets[:i])) for i in range(len(packets))])
    lengths = array("I", map(len, packets))
    packed = JitEngine(prog).run_packed(buffer, offsets, lengths)
    vm = VmEngine(prog)
    for index, packet in enumerate(packets):
        want = vm.run(packet)
        assert packed.packet(index) == want.packet, f"packet {index}"
        assert packed.changed(index) == (want.packet != packet), f"packet {index}"
