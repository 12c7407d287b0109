"""The packet loop's inline copy-in and frame clear (runtime/jit/batch.py `copy_bytes`,
`clear_dirty`, `clear_bytes`: only what the packet before dirtied and this one does not cover; 16-byte blocks and an overlapping last block, a libc call below 16 bytes and
above INLINE_MOVE): packets of every length around those edges, long ones before short ones,
come out as the vm's -- every input byte copied, and the frame around a packet zero (the
head a program grows into) after the packet before dirtied it."""

from __future__ import annotations


import pytest

from engine_diff import run_packed_over
from test_jit_diff import program
from test_jit_unchanged import when_packet_holds
from xdptool.platform.helpers import HELPER_ID
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.jit.batch import INLINE_MOVE
from xdptool.runtime.vm import VmEngine

ADJUST_HEAD, ADJUST_TAIL = HELPER_ID["xdp_adjust_head"], HELPER_ID["xdp_adjust_tail"]
# (40, 30, 20, 14: each shorter than the one before by less than a block: its clear is widened into it)
LENGTHS = (INLINE_MOVE + 1, 15, INLINE_MOVE, 1, 16, 1500, 17, 31, 32, 33, INLINE_MOVE - 1, 47, 48, 49, 14, 100,
           40, 30, 20, 14, 14)

PROGRAMS = {
    "rewrite_a_byte": when_packet_holds(1, """
        r5 = *(u8 *)(r2 + 0)
        r5 ^= 0xff
        *(u8 *)(r2 + 0) = r5"""),  # the whole packet is copied out: every byte the loop copied in
    "grow_the_tail": f"""
        r2 = 600
        call {ADJUST_TAIL}
        r0 = 2
        exit""",  # 600 bytes past the packet
    "grow_the_head_and_mark_it": f"""
        r6 = r1
        r2 = -64
        call {ADJUST_HEAD}
        if r0 != 0 goto out
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r3
        r4 -= r2
        r4 &= 63
        r5 = r2
        r5 += 64
        if r5 > r3 goto out
        r2 += r4
        r7 = 0xab
        *(u8 *)(r2 + 0) = r7
    out:
        r0 = 2
        exit""",  # the 64 bytes before the packet: zero but the one this packet marks (by its length),
}  # whatever the packet before marked there


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_packets_of_every_length_come_out_as_the_vms(name):
    prog = program(PROGRAMS[name])
    packets = [bytes((i * 7 + n) % 251 + 1 for n in range(size)) for i, size in enumerate(LENGTHS)]
    packed = run_packed_over(JitEngine(prog), packets)
    vm = VmEngine(prog)
    for index, packet in enumerate(packets):
        want = vm.run(packet)
        assert want.packet != packet, "the program must change every packet"
        assert (packed.verdict(index), packed.packet(index)) == (want.verdict, want.packet), f"{len(packet)} bytes"
