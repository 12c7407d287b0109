"""pcap / pcapng reading and writing, held to scapy's readers as the oracle."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_pcap_builders import (
    block,
    classic,
    classic_header,
    classic_record,
    epb,
    ether_frame,
    idb,
    obsolete_packet,
    shb,
    spb,
)
from xdptool.errors import XdpError
from xdptool.replay import scan
from xdptool.replay.pcap import MAX_CAPLEN, PcapError, PcapWriter, read_capture, write_pcap


def random_frames(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(14, 300)) for _ in range(count)]


@pytest.mark.parametrize("nanosecond", [False, True], ids=["usec", "nsec"])
@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
def test_written_pcap_reads_back_in_scapy_and_here(tmp_path, nanosecond, big_endian):
    from scapy.utils import RawPcapReader

    frames = random_frames(40, seed=nanosecond * 2 + big_endian)
    stamps = [1_700_000_000_123_456_789 + i * 1_001_001 for i in range(len(frames))]
    path = tmp_path / "out.pcap"
    with PcapWriter(path, nanosecond=nanosecond, big_endian=big_endian) as writer:
        for frame, stamp in zip(frames, stamps):
            writer.write(frame, stamp)
    unit = 1 if nanosecond else 1000
    expected_stamps = [s // unit * unit for s in stamps]

    oracle = list(RawPcapReader(str(path)))
    assert [data for data, _ in oracle] == frames
    assert [meta.sec * 1_000_000_000 + meta.usec * unit for _, meta in oracle] == expected_stamps

    capture = read_capture(path)
    assert [capture.data(i) for i in range(len(capture))] == frames
    assert list(capture.timestamps) == expected_stamps
    assert capture.nanosecond == nanosecond and capture.linktype == 1 and capture.format == "pcap"
    assert not capture.warnings


@pytest.mark.parametrize("nano", [False, True])
@pytest.mark.parametrize("endianness", ["<", ">"])
def test_scapy_written_pcap_reads_here(tmp_path, nano, endianness):
    from scapy.all import IP, TCP, UDP, Ether, IPv6
    from scapy.utils import PcapWriter as ScapyWriter
    from scapy.utils import RawPcapReader

    packets = [Ether() / IP(dst="10.0.0.1") / UDP(dport=53), Ether() / IPv6() / TCP(dport=80) / b"hello"] * 5
    for i, packet in enumerate(packets):
        packet.time = 1_600_000_000 + i / 7
    path = tmp_path / "scapy.pcap"
    writer = ScapyWriter(str(path), endianness=endianness, nano=nano, linktype=1)
    writer.write(packets)
    writer.close()

    unit = 1 if nano else 1000
    oracle = list(RawPcapReader(str(path)))
    capture = read_capture(path)
    assert len(capture) == len(oracle)
    for index, (data, meta) in enumerate(oracle):
        packet = capture.packet(index)
        assert packet.data == data
        assert packet.orig_len == meta.wirelen
        assert packet.timestamp_ns == meta.sec * 1_000_000_000 + meta.usec * unit


def pcapng_oracle(path):
    from scapy.utils import RawPcapNgReader

    rows = []
    for data, meta in RawPcapNgReader(str(path)):
        stamp = 0 if meta.tshigh is None else (meta.tshigh << 32 | meta.tslow) * 10**9 // meta.tsresol
        rows.append((data, meta.wirelen, stamp))
    return rows


def test_pcapng_with_several_block_kinds_agrees_with_scapy(tmp_path):
    frames = random_frames(9, seed=7)
    content = b"".join(
        [
            shb(),
            idb(snaplen=4096, name="eth0"),  # default resolution: microseconds
            block(4, struct.pack("<HH", 0, 0)),  # name resolution block: skipped
            epb(0, 1_700_000_000_000_001, frames[0]),
            idb(snaplen=4096, tsresol=9),  # nanoseconds
            epb(1, 1_700_000_000_000_000_002, frames[1]),
            epb(0, 1_700_000_000_000_003, frames[2][:50], orig=len(frames[2])),  # snaplen-cut
            spb(frames[3]),
            block(5, struct.pack("<III", 0, 0, 0)),  # interface statistics: skipped
            obsolete_packet(1, 1_700_000_000_000_000_004, frames[4]),
            idb(snaplen=4096, tsresol=0x80 | 20),  # 2^-20 s
            epb(2, 123 << 20 | 5, frames[5]),
            block(0x00000BAD, b"custom data"),  # custom block: skipped
            epb(1, 1_700_000_000_000_000_006, frames[6]),
            epb(0, 1_700_000_000_000_007, b""),  # zero-length packet
        ]
    )
    path = tmp_path / "multi.pcapng"
    path.write_bytes(content)
    oracle = pcapng_oracle(path)

    capture = read_capture(path)
    assert capture.format == "pcapng"
    assert [(p.data, p.orig_len, p.timestamp_ns) for p in capture] == oracle
    assert list(capture.interface_ids) == [0, 1, 0, 0, 1, 2, 1, 0]
    assert capture.interfaces[0].name == "eth0"
    assert capture.nanosecond and capture.linktype == 1
    assert capture.cut_count == 1 and capture.zero_count == 1 and capture.short_count == 1
    assert any("record 2" in w and "snaplen" in w for w in capture.warnings)
    assert any("zero-length" in w and "record 7" in w for w in capture.warnings)


def test_pcapng_new_section_switches_byte_order_and_resets_interfaces(tmp_path):
    frames = random_frames(3, seed=3)
    content = (
        shb("<")
        + idb(snaplen=2000, order="<")
        + epb(0, 5_000_000, frames[0], order="<")  # 5 s in microseconds
        + shb(">")
        + idb(snaplen=2000, tsresol=3, tsoffset=100, order=">")  # milliseconds, +100 s
        + epb(0, 2_500, frames[1], order=">")
        + epb(0, 7, frames[2], order=">")
    )
    path = tmp_path / "sections.pcapng"
    path.write_bytes(content)
    capture = read_capture(path)
    assert [p.data for p in capture] == frames
    assert list(capture.timestamps) == [5 * 10**9, 102_500_000_000, 100_007_000_000]
    assert list(capture.interface_ids) == [0, 1, 1]


def test_pcapng_packet_before_its_interface_is_refused(tmp_path):
    path = tmp_path / "noiface.pcapng"
    path.write_bytes(shb() + idb() + shb() + epb(0, 1, ether_frame()))
    with pytest.raises(PcapError, match=r"block 3 at offset \d+: packet on interface 0, but the section declares 0"):
        read_capture(path)


MALFORMED = {
    "empty": (b"", "truncated global header (0 of 24 bytes)"),
    "short-header": (classic_header()[:10], "truncated global header (10 of 24 bytes)"),
    "magic": (b"GIF89a" + b"\0" * 30, "not a pcap or pcapng file (magic 0x38464947)"),
    "record-header": (classic([ether_frame()]) + b"\0" * 7, "record 1 at offset 54: truncated record header (7 of 16"),
    "record-data": (classic([ether_frame()])[:-3], "record 0 at offset 24: truncated record (caplen 14, 11 bytes left"),
    "over-256k": (
        classic_header(snaplen=0) + classic_record(b"", caplen=MAX_CAPLEN + 1),
        "record 0 at offset 24: caplen 262145 is over the 256 KiB limit",
    ),
    "over-snaplen": (
        classic([ether_frame(b"x" * 100)], snaplen=64),
        "record 0 at offset 24: caplen 114 > snaplen 64",
    ),
    "ng-block-length": (shb() + struct.pack("<II", 6, 13) + b"\0" * 8, "block 1 at offset 28: bad block length 13"),
    "ng-truncated": (shb() + idb() + epb(0, 1, ether_frame())[:-8], "block 2 at offset 48: truncated block"),
    "ng-trailer": (shb() + block(6, b"\0" * 20)[:-4] + b"\x99\0\0\0", "does not match its trailing copy 153"),
    "ng-byte-order": (struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x11223344, 1, 0, -1) + b"\x1c\0\0\0", "bad byte-order magic"),
    "ng-caplen": (shb() + idb(snaplen=10) + epb(0, 1, ether_frame()), "packet 0: caplen 14 > snaplen 10"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_capture_is_one_line_error_naming_file_and_record(tmp_path, case):
    content, message = MALFORMED[case]
    path = tmp_path / f"{case}.pcap"
    path.write_bytes(content)
    with pytest.raises(PcapError) as info:
        read_capture(path)
    text = str(info.value)
    assert isinstance(info.value, XdpError) and info.value.exit_code == 2
    assert "\n" not in text and text.startswith(str(path) + ": ")
    assert message in text


def test_missing_and_directory_paths(tmp_path):
    with pytest.raises(PcapError, match="no such file"):
        read_capture(tmp_path / "nope.pcap")
    with pytest.raises(PcapError, match="is a directory"):
        read_capture(tmp_path)


def test_snaplen_cut_and_zero_length_packets_are_read_and_flagged(tmp_path):
    frames = [ether_frame(b"a" * 20), b"", ether_frame(b"b" * 5), b"", b"9 bytes!!"]
    records = [(frames[0], 1, 0, 1500), (frames[1], 1, 1), (frames[2], 1, 2, 99), (frames[3], 1, 3), (frames[4], 1, 4)]
    path = tmp_path / "odd.pcap"
    path.write_bytes(classic(records))
    capture = read_capture(path)
    assert [p.data for p in capture] == frames
    assert [capture.is_cut(i) for i in range(5)] == [True, False, True, False, False]
    assert capture.cut_count == 2 and capture.zero_count == 2 and capture.short_count == 3
    assert capture.short_indices() == [1, 3, 4]
    assert len(capture.warnings) == 2
    assert "2 packets cut short by the snaplen" in capture.warnings[0] and "records 0, 2" in capture.warnings[0]
    assert "2 zero-length packets: records 1, 3" in capture.warnings[1]


def test_write_pcap_keeps_packet_metadata(tmp_path):
    source = tmp_path / "a.pcap"
    source.write_bytes(classic([(ether_frame(b"z" * 9), 10, 20, 999), (ether_frame(), 11, 21)]))
    capture = read_capture(source)
    copy = tmp_path / "b.pcap"
    assert write_pcap(copy, capture) == 2
    again = read_capture(copy)
    assert [(p.data, p.orig_len, p.timestamp_ns) for p in again] == [(p.data, p.orig_len, p.timestamp_ns) for p in capture]


record_lists = st.lists(
    st.tuples(st.integers(0, 70), st.integers(0, 3), st.integers(0, 2**32 - 1), st.integers(0, 999_999)),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(records=record_lists, big_endian=st.booleans(), nanosecond=st.booleans(), cut_at=st.integers(0, 3000))
def test_native_walk_agrees_with_python_walk(records, big_endian, nanosecond, cut_at):
    """The compiled record walk must give exactly what the Python walk gives, errors included."""
    native = scan._native_scanner()
    if native is None:
        pytest.skip("llvmlite is not importable; only the Python walk exists")
    order = ">" if big_endian else "<"
    body = b"".join(
        classic_record(bytes([size % 251]) * size, sec, frac, size + extra, order) for size, extra, sec, frac in records
    )
    buffer = classic_header(order) + body
    for candidate in (buffer, buffer[: 24 + cut_at % (len(body) + 1)]):
        args = (candidate, 24, big_endian, 1 if nanosecond else 1000, 60, MAX_CAPLEN)
        assert native(*args) == scan.scan_records_python(*args)


def test_large_capture_goes_through_the_native_walk_and_matches_scapy(tmp_path):
    from scapy.utils import RawPcapReader

    frames = random_frames(7000, seed=11)
    path = tmp_path / "big.pcap"
    path.write_bytes(classic([(f, i, i * 3) for i, f in enumerate(frames)]))
    assert path.stat().st_size >= scan.NATIVE_MIN_BYTES
    capture = read_capture(path)
    oracle = list(RawPcapReader(str(path)))
    assert [capture.data(i) for i in range(len(capture))] == [data for data, _ in oracle]
    assert list(capture.timestamps) == [m.sec * 10**9 + m.usec * 1000 for _, m in oracle]


def test_native_walk_continues_when_its_first_guess_of_the_record_count_is_short():
    """Records far below the size the native walk sizes its arrays for need several calls."""
    native = scan._native_scanner()
    if native is None:
        pytest.skip("llvmlite is not importable; only the Python walk exists")
    buffer = classic_header() + b"".join(classic_record(bytes([i % 7]) * (i % 9), i, i) for i in range(20000))
    args = (buffer, 24, False, 1000, 65535, MAX_CAPLEN)
    walked = native(*args)
    assert walked == scan.scan_records_python(*args)
    assert len(walked.offsets) == 20000 and walked.zero == 20000 // 9 + 1
    broken = native(buffer[:-5], 24, False, 1000, 65535, MAX_CAPLEN)
    assert broken == scan.scan_records_python(buffer[:-5], 24, False, 1000, 65535, MAX_CAPLEN)
    assert broken.index == 19999
