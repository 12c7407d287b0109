"""The native pcapng walk (scan.py's pcapng_walk, gathering Enhanced Packet Blocks)
against the Python block walker it hands every other block to: the same packets,
offsets, timestamps, interfaces, counters, chunk boundaries and error messages, on
captures from our writer, scapy's, hand-built ones with every block kind, both byte
orders, odd clock resolutions and offsets, and mutated or truncated ones."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_pcap_builders import block, ether_frame, idb, obsolete_packet, options, shb, spb
from xdptool.replay import pcapng
from xdptool.replay.pcap import CaptureStream, PcapError

FIELDS = ("offsets", "lengths", "orig_lengths", "timestamps", "interface_ids", "cut_count", "zero_count",
          "short_count", "nanosecond", "first_index", "interfaces")
FRAMES = [ether_frame(bytes(range(n))) for n in (0, 1, 7, 46, 60)] + [b"", b"\x01" * 13]


def epb(iface: int, units: int, data: bytes, orig=None, order="<", caplen=None, opts=b"") -> bytes:
    """An Enhanced Packet Block whose caplen may lie (the builders' always tells the truth)."""
    head = struct.pack(order + "IIIII", iface, units >> 32 & 0xFFFFFFFF, units & 0xFFFFFFFF,
                       len(data) if caplen is None else caplen, len(data) if orig is None else orig)
    return block(6, head + data + b"\0" * (-len(data) % 4) + opts, order)


def outcome(buffer: bytes, native: bool, chunk: int = 0):
    """What a walk gives: its pieces (fields and where each ends) or the error message."""
    reader = pcapng._Reader("cap.pcapng", buffer, native)
    pieces = []
    try:
        if chunk:
            reader.prefix()
        for stop in reader.walk(chunk):
            piece = reader.take()
            pieces.append((stop, reader.block, [getattr(piece, name) for name in FIELDS]))
    except PcapError as error:
        pieces.append(str(error))
    return pieces


def assert_same(buffer: bytes, chunks=(0, 1, 3)) -> None:
    for chunk in chunks:
        assert outcome(buffer, True, chunk) == outcome(buffer, False, chunk)


# Clocks: if_tsresol (decimal and power-of-2, fitting 64 bits and not) and if_tsoffset.
TSRESOLS = [None, 0, 3, 6, 9, 10, 12, 18, 19, 20, 63, 0x80, 0x80 | 10, 0x80 | 30, 0x80 | 63, 0x80 | 64]
OFFSETS = [None, 0, 1, -1, 1 << 33, -(1 << 40), (1 << 63) - 1, -(1 << 63)]
UNITS = [0, 1, 999_999, 10**9 + 7, 1 << 32, (1 << 63) + 5, (1 << 64) - 1]


@st.composite
def interface(draw, order, clean):
    if clean:  # packets that every walk accepts
        return idb(snaplen=draw(st.sampled_from([0, 65535])), tsresol=draw(st.sampled_from(TSRESOLS[:-1])),
                   tsoffset=draw(st.sampled_from([None, 0, -1, 1 << 33])), order=order)
    return idb(linktype=draw(st.sampled_from([1, 1, 101])), snaplen=draw(st.sampled_from([0, 0, 0, 46, 65535])),
               tsresol=draw(st.sampled_from(TSRESOLS)), tsoffset=draw(st.sampled_from([None] * 8 + OFFSETS)),
               order=order)


@st.composite
def capture(draw, clean=False):
    """A pcapng of one or two sections (either byte order) with every block kind, then
    (unless `clean`) maybe mutated (u16/u32 anywhere) and truncated."""
    blocks = []
    for _ in range(draw(st.integers(1, 2))):
        order = draw(st.sampled_from("<>"))
        blocks.append(shb(order))
        count = draw(st.integers(1, 3) if clean else st.sampled_from([0, 1, 1, 1, 2, 3]))
        blocks += [draw(interface(order, clean)) for _ in range(count)]
        for _ in range(draw(st.integers(0, 12))):
            data = draw(st.sampled_from(FRAMES))
            iface = draw(st.integers(0, count - 1) if clean else st.sampled_from([0] * 12 + [1, 2, 5]))
            units = draw(st.sampled_from(UNITS[:5]) | st.integers(0, 1 << (40 if clean else 52)))
            kind = draw(st.sampled_from(["epb"] * 20 + ["epb opts", "spb", "spb", "spb cut", "obsolete", "idb", "nrb", "isb", "custom"]
                                        + ([] if clean else ["epb lies"])))
            blocks.append({
                "epb": lambda: epb(iface, units, data, order=order),
                "epb opts": lambda: epb(iface, units, data, len(data) + 9, order, opts=options([(1, b"hi")], order)),
                "epb lies": lambda: epb(iface, units, data, order=order,
                                        caplen=draw(st.sampled_from([len(data) + 4, 1 << 18 | 1, 70000]))),
                "spb": lambda: spb(data, order=order),
                "spb cut": lambda: spb(data, draw(st.sampled_from([len(data) + 1, 100, 1 << 18 | 1])), order),
                "obsolete": lambda: obsolete_packet(iface, units, data, order),
                "idb": lambda: draw(interface(order, clean)),
                "nrb": lambda: block(4, struct.pack(order + "HH", 0, 0), order),
                "isb": lambda: block(5, struct.pack(order + "III", 0, 0, 0), order),
                "custom": lambda: block(0x40000BAD, b"\1\2\3\4\5", order),
            }[kind]())
    if clean:
        return b"".join(blocks)
    blob = bytearray(b"".join(blocks))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, max(len(blob) - 4, 0)))
        width = draw(st.sampled_from([2, 4]))
        blob[at : at + width] = draw(st.integers(0, (1 << 8 * width) - 1)).to_bytes(width, "little")
    return bytes(blob[: draw(st.integers(0, len(blob)))] if draw(st.integers(0, 3)) == 0 else blob)


@settings(max_examples=200)
@given(capture(clean=True))
def test_native_walk_agrees_on_well_formed_captures(buffer):
    assert_same(buffer)


@settings(max_examples=300)
@given(capture())
def test_native_walk_agrees_on_hostile_captures(buffer):
    assert_same(buffer)


def test_every_clock_and_offset_agrees():
    """Each resolution and offset with timestamps at the edges (in range, out of range)."""
    for order in "<>":
        for tsresol in TSRESOLS:
            for offset in OFFSETS:
                packets = b"".join(epb(0, units, FRAMES[3], order=order) for units in UNITS)
                assert_same(shb(order) + idb(tsresol=tsresol, tsoffset=offset, order=order) + packets, chunks=(0, 2))


@pytest.mark.parametrize("snaplen", [0, 50])
def test_the_native_walk_does_the_work(monkeypatch, snaplen):
    """Enhanced and Simple Packet Blocks on known interfaces never reach the Python handlers
    (Simple ones cut to the snaplen and their room, with no timestamp)."""
    packets = b"".join(epb(1, i, FRAMES[i % 5]) if i % 3 else spb(FRAMES[i % 5], len(FRAMES[i % 5]) + i)
                       for i in range(60))
    buffer = shb() + idb(tsresol=9, snaplen=snaplen) + idb(snaplen=100) + packets
    expected = outcome(buffer, False)

    def python_handler(*_args):
        raise AssertionError("a packet block walked in Python")

    monkeypatch.setattr(pcapng._Reader, "enhanced_packet", python_handler)
    monkeypatch.setattr(pcapng._Reader, "simple_packet", python_handler)
    assert outcome(buffer, True) == expected
    assert len(expected[0][2][0]) == 60
    _offsets, caplens, origs, stamps = expected[0][2][:4]
    assert list(origs[:4]) == [len(FRAMES[0]), len(FRAMES[1]), len(FRAMES[2]), len(FRAMES[3]) + 3]  # SPB, EPB, EPB, SPB
    assert caplens[3] == min(len(FRAMES[3]), snaplen or len(FRAMES[3])) and stamps[3] == 0


def test_our_writer_and_scapys(tmp_path):
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapNgWriter

    from xdptool.replay.pcapng_writer import PcapngWriter

    ours = io.BytesIO()
    writer = PcapngWriter(ours, "test")
    first, second = writer.interface("eth0", "a"), writer.interface("eth1", "b")
    for index, frame in enumerate(FRAMES * 3):
        writer.packet((first, second)[index % 2], 1_700_000_000_123_456_789 + index, frame, len(frame) + index % 3)
    assert_same(ours.getvalue())

    path = tmp_path / "scapy.pcapng"
    scapy_writer = PcapNgWriter(str(path))
    for index in range(20):
        packet = Ether(FRAMES[index % 5] or bytes(14))
        packet.time = 1_700_000_000 + index / 7
        scapy_writer.write(packet)
    scapy_writer.close()
    assert_same(path.read_bytes())


@pytest.mark.parametrize("order", "<>")
def test_streamed_large_capture_is_walked_natively(tmp_path, order):
    """A file over the native threshold streams (mmap, chunks) as the Python walk reads it;
    an interface of another link type after the first packets still stops the stream."""
    packets = b"".join(epb(0, index * 1000, FRAMES[index % 7], order=order) for index in range(30_000))
    body = shb(order) + idb(snaplen=1500, order=order) + packets
    path = tmp_path / "big.pcapng"
    path.write_bytes(body)
    assert len(body) >= pcapng.scan.NATIVE_MIN_BYTES
    reference = pcapng.read_pcapng(str(path), body, native=False)
    stream = CaptureStream(path, chunk_packets=7000)
    assert stream._pcapng.native
    pieces = list(stream.chunks())
    assert [len(piece) for piece in pieces] == [7000] * 4 + [2000]
    for name in ("offsets", "lengths", "orig_lengths", "timestamps", "interface_ids"):
        assert [v for piece in pieces for v in getattr(piece, name)] == list(getattr(reference, name))
    assert (stream.short_count, stream.zero_count) == (reference.short_count, reference.zero_count) == (8570, 4285)

    path.write_bytes(body + idb(linktype=101, order=order) + epb(1, 5, FRAMES[3], order=order))
    with pytest.raises(PcapError, match="mixed link types"):
        list(CaptureStream(path, chunk_packets=7000).chunks())
