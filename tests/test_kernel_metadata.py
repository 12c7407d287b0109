"""Engines report the frame from `data` on; metadata pushed by adjust_meta is not part of it.

BPF_PROG_TEST_RUN copies data_out from data_meta, so the kernel engine cuts the
metadata off (its length comes back in ctx_out.data); the VM never includes it.
"""

from __future__ import annotations

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.kernel.synthetic import synthetic_program
from xdptool.runtime.engines import make_engine
from xdptool.runtime.maps import MapStore

pytestmark = pytest.mark.kernel

# Push 8 bytes of metadata, write 0xab into its first byte, rewrite the first
# packet byte to 0xcd, pass.
PROGRAM = """
    r6 = r1
    r2 = -8
    call 54
    if r0 != 0 goto fail
    r2 = *(u32 *)(r6 + 8)
    r3 = *(u32 *)(r6 + 0)
    r4 = r2
    r4 += 8
    if r4 > r3 goto fail
    r1 = 171
    *(u8 *)(r2 + 0) = r1
    r4 = *(u32 *)(r6 + 4)
    r5 = r3
    r5 += 1
    if r5 > r4 goto fail
    r1 = 205
    *(u8 *)(r3 + 0) = r1
    r0 = 2
    exit
fail:
    r0 = 0
    exit
"""


def test_metadata_is_not_in_the_output_frame():
    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    program = synthetic_program(assemble(PROGRAM))
    packet = bytes(range(64))
    results = {}
    for target in ("vm", "kernel"):
        engine = make_engine(target, program, MapStore({}))
        try:
            results[target] = engine.run(packet)
        finally:
            getattr(engine, "close", lambda: None)()
    for target, result in results.items():
        assert result.verdict == "XDP_PASS", target
        assert bytes(result.packet) == b"\xcd" + packet[1:], target
        assert bytes(result.meta) == b"\xab" + bytes(7), target
