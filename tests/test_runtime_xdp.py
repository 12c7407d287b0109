"""bpf_xdp_adjust_head/tail/meta limits and the packet the program leaves, against the kernel.

Each case is a program calling the helper(s) with fixed offsets and returning the
last helper's result; the VM and BPF_PROG_TEST_RUN must agree on the return value
and the output packet.  The limits are also pinned by hand (216 bytes of head
room = 256 - sizeof(struct xdp_frame); tail up to frame end - skb_shared_info).
"""

from __future__ import annotations

import errno

import pytest

from test_runtime_support import xdp
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.engines import make_engine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.xdp import XdpBuffer

HEAD, META, TAIL = 44, 54, 65
PKT = bytes(range(64))


def calls(*steps: tuple[int, int], write: bool = False) -> str:
    """Call each (helper, offset) in turn with ctx saved in r6; return the last result.

    With `write`, the program then stores 0xAB at the first packet byte (if there
    is one), so grown head room shows in the output.
    """
    lines = ["r6 = r1"]
    for helper, offset in steps:
        lines += ["r1 = r6", f"r2 = {offset}", f"call {helper}"]
    lines.append("r7 = r0")
    if write:
        lines += ["r2 = *(u32 *)(r6 + 0)", "r3 = *(u32 *)(r6 + 4)", "r4 = r2", "r4 += 1",
                  "if r4 > r3 goto +1", "*(u8 *)(r2 + 0) = 171"]
    lines += ["r0 = r7", "exit"]
    return "\n".join(lines)


CASES = [
    [(HEAD, -216)], [(HEAD, -217)], [(HEAD, -1)], [(HEAD, 0)], [(HEAD, 50)], [(HEAD, 51)], [(HEAD, 64)],
    [(TAIL, 3456)], [(TAIL, 3457)], [(TAIL, -50)], [(TAIL, -51)], [(TAIL, 100)], [(TAIL, -64)],
    [(META, -4)], [(META, -3)], [(META, -32)], [(META, -36)], [(META, -216)], [(META, -220)], [(META, 4)],
    [(META, -8), (HEAD, -16)], [(META, -8), (HEAD, -208)], [(META, -8), (HEAD, -209)],
    [(META, -8), (META, 8)], [(HEAD, 14), (META, -16)], [(TAIL, 10), (HEAD, 60)],
]


def _ids(case):
    names = {HEAD: "head", META: "meta", TAIL: "tail"}
    return "+".join(f"{names[h]}{o:+d}" for h, o in case)


def vm_run(steps, write=True, packet=PKT):
    program = xdp(calls(*steps, write=write))
    return make_engine("vm", program, MapStore({})).run(packet)


def test_hand_limits():
    buf = XdpBuffer(RuntimeConfig())
    buf.reset(PKT)
    assert buf.adjust_head(-217) == -errno.EINVAL
    assert buf.adjust_head(-216) == 0 and buf.length == 64 + 216
    buf.reset(PKT)
    assert buf.adjust_tail(4096 - 256 - 320 - 64) == 0
    assert buf.adjust_tail(1) == -errno.EINVAL
    buf.reset(PKT)
    assert buf.adjust_meta(-6) == -errno.EACCES
    assert buf.adjust_meta(-8) == 0 and buf.meta == bytes(8)
    assert buf.adjust_head(-4) == 0 and len(buf.meta) == 8  # metadata moves with the head


def test_grown_head_reads_zero_and_writes_show():
    result = vm_run([(HEAD, -4)])
    assert result.retval == 0 and result.packet == b"\xab\0\0\0" + PKT


def test_tail_grow_zeroes_and_shrink_truncates():
    assert vm_run([(TAIL, 6)], write=False).packet == PKT + bytes(6)
    assert vm_run([(TAIL, -10)], write=False).packet == PKT[:-10]


def test_adjust_invalidates_nothing_it_should_not():
    """After adjust_head the program re-reads data; the ctx reflects the move."""
    result = vm_run([(HEAD, 14)])
    assert result.packet == b"\xab" + PKT[15:]


@pytest.mark.kernel
@pytest.mark.parametrize("steps", CASES, ids=_ids)
def test_matches_kernel(steps):
    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(f"kernel: {reason}")
    program = xdp(calls(*steps, write=True))
    want = make_engine("kernel", program, MapStore({}))
    try:
        expected = want.run(PKT)
    finally:
        want.close()
    engine = make_engine("vm", program, MapStore({}))
    got = engine.run(PKT)
    assert got.fault is None
    # RunResult.packet starts at data on every engine; the kernel engine also reports the metadata
    assert (got.retval, engine.xdp.meta, got.packet) == (expected.retval, expected.meta, expected.packet)
