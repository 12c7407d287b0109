"""Checked memory: every out-of-bounds or forbidden access stops the run as XDP_ABORTED
with a Fault naming pc, address and region — never an exception — and the next run is clean."""

from __future__ import annotations

import pytest

from test_runtime_support import PACKET, array, vm
from xdptool.elf.model import LineInfo
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.memory import ORIGIN, AddressSpace, MemoryFault

LOAD_PACKET = """
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
"""


def faulting(asm, maps=(), packet=PACKET, **kw):
    engine, _ = vm(asm, list(maps), **kw)
    result = engine.run(packet)
    assert result.fault is not None, "expected a fault"
    assert result.verdict == "XDP_ABORTED" and result.retval == 0
    return engine, result.fault


def test_packet_read_one_past_the_end():
    n = len(PACKET)
    engine, fault = faulting(LOAD_PACKET + f"r0 = *(u8 *)(r2 + {n})\nexit")
    assert fault.insn == 2 and fault.region == "packet"
    assert f"packet+{n}" in fault.message and "read of 1 bytes" in fault.message
    ok = engine.run(PACKET[:-1] + b"\x07" + bytes(1))  # one byte longer: the same read is fine
    assert ok.fault is None and ok.retval == 0


def test_packet_last_byte_is_readable():
    engine, _ = vm(LOAD_PACKET + f"r0 = *(u8 *)(r2 + {len(PACKET) - 1})\nexit")
    assert engine.run(PACKET[:-1] + b"\x2a").retval == 0x2A


def test_packet_write_before_data():
    _, fault = faulting(LOAD_PACKET + "*(u8 *)(r2 - 1) = 1\nr0 = 2\nexit")
    assert fault.region == "packet" and "write" in fault.message and "packet-1" in fault.message


def test_stack_out_of_bounds():
    _, fault = faulting("*(u64 *)(r10 + 0) = 1\nr0 = 2\nexit")
    assert fault.insn == 0 and fault.region == "stack frame 0"
    _, fault = faulting("*(u8 *)(r10 - 513) = 1\nr0 = 2\nexit")
    assert "stack frame 0-1" in fault.message


def test_map_value_out_of_bounds():
    asm = """
r1 = map:arr
r2 = r10
r2 += -4
*(u32 *)(r10 - 4) = 0
call 1
if r0 == 0 goto +2
r0 = *(u64 *)(r0 + 8)
exit
r0 = 1
exit
"""
    _, fault = faulting(asm, [array(value_size=8)])
    assert fault.insn == 7 and fault.region == "map arr value"
    assert fault.address is not None


def test_null_map_value():
    asm = """
r1 = map:arr
r2 = r10
r2 += -4
*(u32 *)(r10 - 4) = 9
call 1
r0 = *(u64 *)(r0 + 0)
exit
"""
    _, fault = faulting(asm, [array(max_entries=4)])
    assert "NULL pointer" in fault.message and fault.address == 0


@pytest.mark.parametrize("asm,words", [
    ("*(u32 *)(r1 + 12) = 1\nr0 = 2\nexit", ["write", "read-only ctx"]),
    ("r0 = *(u32 *)(r1 + 2)\nexit", ["xdp_md", "off=2", "size=4"]),
    ("r0 = *(u64 *)(r1 + 0)\nexit", ["xdp_md", "size=8"]),
    ("r0 = *(u32 *)(r1 + 24)\nexit", ["out-of-bounds", "ctx"]),
    ("r0 = *(u16 *)(r1 + 12)\nexit", ["xdp_md", "size=2"]),
])
def test_ctx_access_rules(asm, words):
    _, fault = faulting(asm)
    assert fault.region == "ctx" or "ctx" in fault.message
    for word in words:
        assert word in fault.message


def test_ctx_fields():
    from xdptool.runtime.contract import XdpContext

    engine, _ = vm("""
r0 = *(u32 *)(r1 + 12)
r2 = *(u32 *)(r1 + 16)
r0 <<= 8
r0 |= r2
r2 = *(u32 *)(r1 + 20)
r0 <<= 8
r0 |= r2
exit
""")
    assert engine.run(PACKET, XdpContext(ingress_ifindex=3, rx_queue_index=5, egress_ifindex=7)).retval == 0x030507


def test_read_only_global_data():
    from xdptool.elf.model import MapDef, MapType

    rodata = MapDef(".rodata", MapType.ARRAY, 4, 8, 1, initial=bytes(range(8)), readonly=True, section=".rodata")
    engine, _ = vm("r1 = value:.rodata+2\nr0 = *(u8 *)(r1 + 0)\nexit", [rodata])
    assert engine.run(PACKET).retval == 2
    _, fault = faulting("r1 = value:.rodata+2\n*(u8 *)(r1 + 0) = 1\nr0 = 2\nexit", [rodata])
    assert "read-only" in fault.message and fault.region == "map .rodata value"


def test_runaway_is_a_fault_and_counted():
    engine, fault = faulting("r0 = 0\ngoto -1\nexit", config=RuntimeConfig(max_insns=500))
    assert "more than 500 instructions" in fault.message


def test_fault_carries_the_c_line():
    engine, _ = vm(LOAD_PACKET + "r0 = *(u8 *)(r2 + 4000)\nexit")
    line = LineInfo("fw.c", 42, 5, "return data[4000];")
    engine.program.insns[2].line = line
    result = engine.run(PACKET)
    assert (result.fault.file, result.fault.line, result.fault.source) == ("fw.c", 42, "return data[4000];")
    assert "fw.c:42" in str(result.fault)


def test_address_space_tags_and_negative_offsets():
    space = AddressSpace()
    a = space.add("a", bytearray(16))
    b = space.add("b", bytearray(16))
    assert a.base >> 32 != b.base >> 32 and a.base & 0xFFFFFFFF == ORIGIN
    with pytest.raises(MemoryFault) as info:
        space.load(b.base - 1, 1)  # just below b: still reported against b
    assert info.value.region == "b" and "b-1" in info.value.message
    space.remove(a)
    c = space.add("c", bytearray(4))
    assert c.id == a.id  # ids are reused
