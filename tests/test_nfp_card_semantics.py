"""What the card does differently from the host, on nfp-emu (both images where both can be built).

adjust_tail only shrinks (a delta >= 0 is -EINVAL), adjust_head must keep the packet
inside the firmware's 44..248-byte window of its buffer (the packet starts at 128),
a write to xdp_md.rx_queue_index selects the queue (reported per packet), and
bpf_perf_event_output(BPF_F_CURRENT_CPU) records an event as the host would.
Expected values come from jit.c's sequences and the firmware's capability
(ebpf.uc ebpf_init_cap_adjust_head(.., 44, 248, 84, 112)), not from the emulator.
"""

from __future__ import annotations

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.elf.model import MapDef, MapType, Object, Program, ProgType, Reloc, RelocKind
from xdptool.nfp.engine import NfpEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

PACKET = bytes(range(60))


def program(text: str, maps: dict | None = None) -> Program:
    prog = Program("p", "xdp", ProgType.XDP, "xdp", assemble(text), [], "GPL")
    if maps:
        prog.object = Object("t.o", [prog], maps, "GPL", 0, [])
        for insn in prog.insns:
            if insn.is_ld_imm64 and insn.imm64 == 0:  # `rN = 0 ll` names the map
                insn.src, insn.reloc = 1, Reloc(RelocKind.MAP, "m", map="m")
    return prog


def adjust(helper: int, delta: int) -> Program:
    """Call the helper; return XDP_PASS when it succeeded, XDP_DROP when it failed."""
    return program(f"""
    r6 = r1
    r2 = {delta}
    call {helper}
    if r0 != 0 goto failed
    r0 = 2
    exit
failed:
    r0 = 1
    exit
    """)


def nfp(prog: Program, allocator: str) -> NfpEngine:
    return NfpEngine(prog, MapStore({}), allocator=allocator)


@pytest.mark.parametrize("allocator", ["kernel", "xdptool"])
@pytest.mark.parametrize("delta, ok", [(-4, True), (-46, True), (-47, False), (0, False), (4, False)])
def test_adjust_tail_only_shrinks_and_keeps_an_ethernet_header(allocator, delta, ok):
    result = nfp(adjust(65, delta), allocator).run(PACKET)
    assert result.verdict == ("XDP_PASS" if ok else "XDP_DROP")
    assert result.packet == (PACKET[:len(PACKET) + delta] if ok else PACKET)


def test_the_host_grows_the_tail_where_the_card_refuses():
    assert VmEngine(adjust(65, 4), MapStore({})).run(PACKET).verdict == "XDP_PASS"


@pytest.mark.parametrize("allocator", ["kernel", "xdptool"])
@pytest.mark.parametrize("delta, ok", [(-84, True), (-60, True), (-85, False), (-100, False), (14, True),
                                       (46, True), (120, True), (121, False), (47, False)])
def test_adjust_head_stays_in_the_firmware_window(allocator, delta, ok):
    """128 + delta must lie in 44..248 and 60 - delta bytes must stay >= 14."""
    ok = ok and 44 <= 128 + delta <= 248 and len(PACKET) - delta >= 14
    result = nfp(adjust(44, delta), allocator).run(PACKET)
    assert result.verdict == ("XDP_PASS" if ok else "XDP_DROP")
    if ok and delta > 0:
        assert result.packet == PACKET[delta:]
    elif ok:
        assert result.packet[-delta:] == PACKET and len(result.packet) == len(PACKET) - delta


def test_the_host_moves_the_head_where_the_card_refuses():
    assert VmEngine(adjust(44, -100), MapStore({})).run(PACKET).verdict == "XDP_PASS"


def queue(value: int) -> Program:
    return program(f"r2 = {value}\n *(u32 *)(r1 + 16) = r2\n r0 = 2\n exit\n")


@pytest.mark.parametrize("value, selected", [(5, 5), (0, 0), (255, 255), (256, 64), (1000, 64)])
def test_a_rx_queue_write_selects_the_queue(value, selected):
    """jit.c nfp_queue_select: a value above 0xff selects NFP_NET_RXR_MAX (64)."""
    engine = nfp(queue(value), "kernel")
    result = engine.run(PACKET)
    assert result.verdict == "XDP_PASS" and result.rx_queue == selected == engine.rx_queue


def test_no_queue_write_selects_nothing():
    assert nfp(program("r0 = 2\n exit\n"), "kernel").run(PACKET).rx_queue is None


PERF = {"m": MapDef("m", MapType.PERF_EVENT_ARRAY, 4, 4, 2)}


def test_perf_event_output_records_what_the_host_records():
    text = """
    r2 = 0x1122334455667788 ll
    *(u64 *)(r10 - 8) = r2
    r2 = 0 ll
    r3 = 0xffffffff ll
    r4 = 8
    r4 <<= 32
    r3 |= r4
    r4 = r10
    r4 += -8
    r5 = 8
    call 25
    r0 = 2
    exit
    """
    prog = program(text, PERF)
    store = MapStore(PERF)
    engine = NfpEngine(prog, store)
    if not engine.report.offloaded:
        pytest.skip(str(engine.report.reasons[0]))
    want = VmEngine(prog, MapStore(PERF)).run(PACKET)
    got = engine.run(PACKET)
    # the card's event also says where the record ends and the packet bytes begin (the firmware's
    # cmsg_bpf_event carries data_size and pkt_size apart); what the host records is the rest
    assert [{k: e[k] for k in want.events[0]} for e in got.events] == want.events and len(got.events) == 1
    assert (got.events[0]["size"], got.events[0]["ctx_len"]) == (8, 8)
    assert got.events[0]["data"] == (0x1122334455667788).to_bytes(8, "little").hex() + PACKET[:8].hex()
