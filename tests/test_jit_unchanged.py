"""The packet loop's unchanged packets (runtime/jit/batch.py): a packet left where it came
is compared with its input only when something may have written it (env.pkt_written: a store
into the packet region, a helper given the context or a dynptr).  Each way of writing is
checked here against the vm: the output bytes are the vm's, and `changed` says whether they
differ from the input (or moved) -- whatever wrote them, and also when a write put back the
same bytes."""

from __future__ import annotations


import pytest

from engine_diff import run_packed_over
from test_jit_diff import program
from xdptool.platform.helpers import HELPER_ID
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.vm import VmEngine

STORE_BYTES, ADJUST_TAIL = HELPER_ID["xdp_store_bytes"], HELPER_ID["xdp_adjust_tail"]


def when_packet_holds(need: int, body: str) -> str:
    """`body` run when the packet holds `need` bytes (r2 = data, r3 = data_end); XDP_PASS."""
    return f"""
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += {need}
        if r4 > r3 goto out
{body}
    out:
        r0 = 2
        exit"""


WRITERS = {
    "store_other_byte": when_packet_holds(20, """
        r5 = *(u8 *)(r2 + 19)
        r5 ^= 1
        *(u8 *)(r2 + 19) = r5"""),
    "store_same_byte": when_packet_holds(20, """
        r5 = *(u8 *)(r2 + 19)
        *(u8 *)(r2 + 19) = r5"""),
    "atomic_add": when_packet_holds(24, """
        r5 = 1
        lock *(u32 *)(r2 + 16) += r5"""),
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
    "reads_only": when_packet_holds(20, """
        r0 = *(u8 *)(r2 + 19)
        *(u64 *)(r10 - 8) = r0"""),
}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_unchanged_packets_are_the_vms(name):
    prog = program(WRITERS[name])
    packets = [bytes(range(i, i + size)) for i, size in enumerate((14, 19, 20, 24, 60, 61, 128))]
    packed = run_packed_over(JitEngine(prog), packets)
    vm = VmEngine(prog)
    for index, packet in enumerate(packets):
        want = vm.run(packet)
        assert packed.packet(index) == want.packet, f"packet {index}"
        assert packed.changed(index) == (want.packet != packet), f"packet {index}"
