"""pcap and pcapng: captures built from the examples' packets (programs/*.pcap, read with
scapy), mutated in their headers, record and block lengths and options, then read and
replayed with --out-dir (which writes classic pcap).  Only XdpError may escape.
"""

from __future__ import annotations

import struct

import pytest
from .fuzz_support import fuzz, only_our_errors
from hypothesis import given
from hypothesis import strategies as st

from hostile_inputs import PROGRAMS, assert_handled, cli_run
from test_pcap_builders import block, classic, epb, obsolete_packet, options, shb, spb

OPTION_CODES = [0, 1, 2, 9, 14, 3, 4, 15, 0xFFFF]  # end, comment, if_name, if_tsresol, if_tsoffset, others


@pytest.fixture(scope="session")
def frames() -> list[tuple[bytes, int]]:
    """(packet, timestamp in µs) of the first packets of every example capture."""
    from scapy.utils import RawPcapReader

    found = []
    for path in sorted(PROGRAMS.glob("*.pcap")):
        for index, (data, meta) in enumerate(RawPcapReader(str(path))):
            if index == 3:
                break
            found.append((bytes(data), meta.sec * 1_000_000 + meta.usec))
    return found


@st.composite
def classic_capture(draw, frames):
    chosen = draw(st.lists(st.sampled_from(frames), min_size=0, max_size=6))
    order = draw(st.sampled_from(["<", ">"]))
    blob = bytearray(classic([(data, stamp // 1_000_000, stamp % 1_000_000) for data, stamp in chosen], order=order,
                             nanosecond=draw(st.booleans()), snaplen=draw(st.sampled_from([0, 14, 64, 65535, 1 << 31]))))
    for _ in range(draw(st.integers(0, 4))):  # header and record fields as u32, anywhere
        at = draw(st.integers(0, max(len(blob) - 4, 0)))
        blob[at : at + 4] = struct.pack(order + "I", draw(st.sampled_from([0, 1, 13, 14, 0xFFFF, 1 << 18, 0xFFFFFFFF])
                                                           | st.integers(0, 0xFFFFFFFF)))
    return bytes(blob[: draw(st.integers(0, len(blob)))] if draw(st.booleans()) else blob)


@st.composite
def option_list(draw):
    raw = draw(st.lists(st.tuples(st.sampled_from(OPTION_CODES), st.binary(max_size=12)), max_size=4))
    return options(raw)


@st.composite
def pcapng_capture(draw, frames):
    blocks = [shb()]
    for _ in range(draw(st.integers(0, 2))):
        body = struct.pack("<HHI", draw(st.sampled_from([1, 0, 101])), 0, draw(st.sampled_from([0, 14, 65535])))
        blocks.append(block(1, body + draw(option_list())))
    for data, stamp in draw(st.lists(st.sampled_from(frames), max_size=5)):
        kind = draw(st.sampled_from(["epb", "spb", "obsolete"]))
        iface = draw(st.sampled_from([0, 0, 1, 7]))
        units = draw(st.sampled_from([stamp, 0, (1 << 64) - 1]))
        blocks.append({"epb": lambda: epb(iface, units, data), "spb": lambda: spb(data),
                       "obsolete": lambda: obsolete_packet(iface & 0xFFFF, units, data)}[kind]())
    if draw(st.booleans()):
        blocks.insert(draw(st.integers(1, len(blocks))), shb(draw(st.sampled_from(["<", ">"]))))
    blob = bytearray(b"".join(blocks))
    for _ in range(draw(st.integers(0, 3))):  # block lengths, option headers, anything: 16 or 32 bits
        at = draw(st.integers(0, max(len(blob) - 4, 0)))
        width = draw(st.sampled_from([2, 4]))
        blob[at : at + width] = draw(st.integers(0, (1 << 8 * width) - 1)).to_bytes(width, "little")
    return bytes(blob[: draw(st.integers(0, len(blob)))] if draw(st.booleans()) else blob)


def read(path) -> None:
    from xdptool.replay.pcap import read_capture

    capture = read_capture(path)
    for index in range(len(capture)):
        capture.packet(index)
    capture.without_short()


@pytest.fixture(scope="session")
def drop_all(built_examples):
    return built_examples["drop_all"]


@fuzz(8)
@given(st.data())
def test_mutated_classic_pcap_reads(frames, fuzz_dir, data):
    path = fuzz_dir / "read.pcap"
    path.write_bytes(data.draw(classic_capture(frames)))
    with only_our_errors("pcap read"):
        read(path)


@fuzz(8)
@given(st.data())
def test_mutated_pcapng_reads(frames, fuzz_dir, data):
    path = fuzz_dir / "read.pcapng"
    path.write_bytes(data.draw(pcapng_capture(frames)))
    with only_our_errors("pcapng read"):
        read(path)


@fuzz(1)
@given(st.data(), st.booleans())
def test_mutated_captures_replay_with_out_dir(frames, fuzz_dir, drop_all, data, next_generation):
    """Through the CLI: exit 0, 1 or 2, never a traceback, also when writing the outputs."""
    path = fuzz_dir / "replay.cap"
    path.write_bytes(data.draw(pcapng_capture(frames) if next_generation else classic_capture(frames)))
    out = fuzz_dir / "out"
    for old in out.glob("*.pcap") if out.exists() else ():
        old.unlink()
    with only_our_errors("capture replay"):
        assert_handled(cli_run("replay", drop_all, path, "--target", "vm", "--out-dir", out))
