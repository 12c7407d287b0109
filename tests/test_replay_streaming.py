"""Streaming replays (issue 15 item 3): the capture read in bounded chunks, output pcaps
written in bulk per chunk, --json a summary without per-packet records.

Expectations come from the whole-file reader (read_capture), the per-packet pcap
writer (PcapWriter.write) and json.dumps of packet_record: independent paths that
the streamed ones must reproduce byte for byte.
"""

from __future__ import annotations

import io
import json
import random
import shutil
import struct

import pytest
from click.testing import CliRunner

from test_pcap_builders import classic, ether_frame
from xdptool.cli.main import cli
from xdptool.errors import XdpError
from xdptool.replay import scan
from xdptool.replay.driver import replay
from xdptool.replay.outputs import VERDICT_FILES, JsonLinesSink, OutDirSink
from xdptool.replay.pcap import MAX_CAPLEN, CaptureStream, read_capture
from xdptool.replay.results import packet_record

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
SMALL_CHUNK = MAX_CAPLEN + scan.RECORD_HEADER  # the smallest read size the stream accepts


def records(count: int, seed: int = 1) -> list[tuple]:
    """Mixed sizes, some snaplen-cut (orig > caplen), a runt and a zero-length record."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        data = ether_frame(bytes(rng.randrange(256) for _ in range(rng.choice((0, 10, 200, 1400)))))
        orig = len(data) + (20 if i % 97 == 5 else 0)
        out.append((data, 1_700_000_000 + i // 1000, i % 1000, orig))
    out[7] = (b"\x01" * 9, 5, 5)  # under 14 bytes
    out[11] = (b"", 6, 6)  # zero-length
    return out


def same_packets(stream: CaptureStream, whole) -> list:
    pieces = list(stream.chunks())
    got = [(p.first_index + i, bytes(p.data(i)), p.timestamps[i], p.orig_lengths[i]) for p in pieces for i in range(len(p))]
    want = [(i, bytes(whole.data(i)), whole.timestamps[i], whole.orig_lengths[i]) for i in range(len(whole))]
    assert got == want
    return pieces


@pytest.mark.parametrize("chunk_packets", [1, 7, 65536])
def test_stream_yields_the_packets_of_the_whole_file(tmp_path, chunk_packets):
    path = tmp_path / "in.pcap"
    path.write_bytes(classic(records(400)))
    whole = read_capture(path)
    stream = CaptureStream(path, chunk_packets)
    pieces = same_packets(stream, whole)
    assert all(len(p) <= chunk_packets for p in pieces)
    assert (stream.cut_count, stream.zero_count, stream.short_count) == (whole.cut_count, whole.zero_count, whole.short_count)
    assert stream.first["short"] == whole.short_indices() and stream.warnings == whole.warnings
    assert stream.bytes_captured == whole.bytes_captured() and stream.packets == len(whole)


def test_native_walk_across_read_boundaries(tmp_path):
    """A file over 1 MiB read a quarter MiB at a time: records straddle every read, and
    the compiled walk (buffers of at least NATIVE_MIN_BYTES) agrees with the whole file."""
    path = tmp_path / "big.pcap"
    path.write_bytes(classic(records(3000, seed=2)))
    assert path.stat().st_size > 4 * SMALL_CHUNK
    whole = read_capture(path)
    same_packets(CaptureStream(path, 1000, chunk_bytes=SMALL_CHUNK), whole)
    same_packets(CaptureStream(path, 500, chunk_bytes=scan.NATIVE_MIN_BYTES), whole)


@pytest.mark.parametrize("damage", ["truncated", "over_snaplen"])
def test_bad_record_far_into_the_file_reads_as_the_whole_file_reader_says(tmp_path, damage):
    data = bytearray(classic(records(2000, seed=3), snaplen=4000))
    if damage == "truncated":
        del data[-5:]
    else:  # the last record's caplen over the snaplen
        last = len(data) - 16 - len(records(2000, seed=3)[-1][0])
        struct.pack_into("<I", data, last + 8, 5000)
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(XdpError) as whole:
        read_capture(path)
    with pytest.raises(XdpError) as streamed:
        list(CaptureStream(path, 64, chunk_bytes=SMALL_CHUNK).chunks())
    assert str(streamed.value) == str(whole.value)


def test_pcapng_streams_in_pieces(tmp_path):
    from test_pcap_builders import epb, idb, shb

    frames = [ether_frame(bytes([i]) * 40) for i in range(10)]
    body = shb() + idb() + b"".join(epb(0, i, f) for i, f in enumerate(frames))
    path = tmp_path / "in.pcapng"
    path.write_bytes(body)
    pieces = same_packets(CaptureStream(path, 3), read_capture(path))
    assert [len(p) for p in pieces] == [3, 3, 3, 1]


def _several_block_kinds() -> bytes:
    """Two sections (little- then big-endian), interfaces of three clock resolutions, one
    declared after packets, skipped blocks, simple and obsolete packet blocks."""
    from test_pcap_builders import block, epb, idb, obsolete_packet, shb, spb

    rng = random.Random(5)
    frames = [ether_frame(bytes(rng.randrange(256) for _ in range(rng.choice((0, 30, 300))))) for _ in range(40)]
    first = [shb(), idb(snaplen=4096, name="eth0"), block(4, struct.pack("<HH", 0, 0))]
    first += [epb(0, 1_700_000_000_000_000 + i, f) for i, f in enumerate(frames[:15])]
    first += [idb(snaplen=4096, tsresol=9), spb(frames[15]), obsolete_packet(1, 7, frames[16])]
    first += [epb(1, 1_700_000_000_000_000_000 + i, f) for i, f in enumerate(frames[17:25])]
    second = [shb(">"), idb(snaplen=4096, tsresol=3, order=">")]
    second += [epb(0, 2_500 + i, f, order=">") for i, f in enumerate(frames[25:])]
    return b"".join(first + second)


def _writer_written(frames: list[bytes]) -> bytes:
    """pcapng_writer's output (what `replay --pcapng` writes): two interfaces, comments."""
    from xdptool.replay.pcapng_writer import PcapngWriter

    out = io.BytesIO()
    writer = PcapngWriter(out, "test")
    entry, exit_ = writer.interface("p@entry", "before"), writer.interface("p@exit", "after")
    for i, frame in enumerate(frames):
        writer.packet(entry, 1_000 + i, frame, len(frame), comment=f"packet {i}")
        writer.packet(exit_, 1_000 + i, frame[:20], len(frame), flags=1)
    return out.getvalue()


def _scapy_written(path, frames: list[bytes]) -> None:
    from scapy.layers.l2 import Ether
    from scapy.utils import PcapNgWriter

    with PcapNgWriter(str(path)) as writer:
        writer.write_header(Ether(frames[0]))  # write_packet alone writes none
        for i, frame in enumerate(frames):
            writer.write_packet(Ether(frame), sec=1_700_000_000 + i, usec=i, wirelen=len(frame) + (i % 3))


@pytest.mark.parametrize("source", ["several_blocks", "pcapng_writer", "scapy"])
@pytest.mark.parametrize("chunk_packets", [1, 3, 65536])
def test_pcapng_streamed_in_bounded_pieces_equals_the_whole_file(tmp_path, source, chunk_packets):
    """A pcapng streams block by block: each piece holds at most chunk_packets packets (the
    walker keeps none of the earlier ones), and the pieces together are the file as the
    whole-file reader and, for the packets, scapy read it."""
    from test_pcap import pcapng_oracle

    frames = [ether_frame(bytes([i % 251]) * (i * 7 % 300)) for i in range(50)]
    path = tmp_path / "in.pcapng"
    if source == "scapy":
        _scapy_written(path, frames)
    else:
        path.write_bytes(_several_block_kinds() if source == "several_blocks" else _writer_written(frames))
    whole = read_capture(path)
    assert CaptureStream(path).nanosecond == whole.nanosecond  # looked up ahead of the walk (an interface after packets)
    stream = CaptureStream(path, chunk_packets)
    pieces = []
    for piece in stream.chunks():
        assert len(piece) <= chunk_packets and len(stream._pcapng.offsets) == 0  # nothing gathered beyond it
        pieces.append(piece)
    got = [(p.first_index + i, bytes(p.data(i)), p.timestamps[i], p.orig_lengths[i], p.interface_ids[i])
           for p in pieces for i in range(len(p))]
    assert got == [(i, bytes(whole.data(i)), whole.timestamps[i], whole.orig_lengths[i], whole.interface_ids[i])
                   for i in range(len(whole))]
    oracle = pcapng_oracle(path)  # its clock is wrong in a big-endian section: there packets and lengths only
    assert [(data, orig) for _, data, _, orig, _ in got] == [(data, orig) for data, orig, _ in oracle]
    if source != "several_blocks":
        assert [stamp for _, _, stamp, _, _ in got] == [stamp for _, _, stamp in oracle]
    assert (stream.cut_count, stream.zero_count, stream.short_count) == (whole.cut_count, whole.zero_count, whole.short_count)
    assert stream.warnings == whole.warnings and stream.bytes_captured == whole.bytes_captured()
    assert stream.format == "pcapng" and stream.nanosecond == (source != "scapy") and stream.linktype == 1


def test_pcapng_bad_block_far_into_the_file_fails_after_the_earlier_pieces(tmp_path):
    """The walk stops at the bad block with the whole-file reader's message; the pieces
    before it were handed out (a replay's sinks then discard their outputs)."""
    from test_pcap_builders import epb, idb, shb

    frames = [ether_frame(bytes([i]) * 40) for i in range(30)]
    body = shb() + idb() + b"".join(epb(0, i, f) for i, f in enumerate(frames))
    path = tmp_path / "bad.pcapng"
    path.write_bytes(body[:-6])  # the last block truncated
    with pytest.raises(XdpError) as whole_error:
        read_capture(path)
    seen = []
    with pytest.raises(XdpError) as stream_error:
        for piece in CaptureStream(path, 4).chunks():
            seen.append(len(piece))
    assert str(stream_error.value) == str(whole_error.value) and "truncated block" in str(whole_error.value)
    assert seen == [4] * 7


def test_pcapng_interface_of_another_link_type_after_packets_is_refused_when_met(tmp_path):
    """The stream knows the interfaces declared before the first packet; one declared later
    with another link type makes the capture mixed, as the whole file would be judged."""
    from test_pcap_builders import epb, idb, shb

    frame = ether_frame(b"x" * 40)
    path = tmp_path / "mixed.pcapng"
    path.write_bytes(shb() + idb() + b"".join(epb(0, i, frame) for i in range(10)) + idb(linktype=113)
                     + epb(1, 11, frame))
    stream = CaptureStream(path, 4)
    assert stream.linktype == 1  # what a replay checks before its first packet
    with pytest.raises(XdpError, match="mixed link types; XDP replays need Ethernet captures"):
        list(stream.chunks())
    result = CliRunner().invoke(cli, ["replay", str(ROOT / "programs" / "drop_all.c"), str(path)])
    assert result.exit_code == 2 and "mixed link types" in result.output


@pytest.fixture(scope="module")
def rewrite_obj(tmp_path_factory):
    """port_rewrite changes some packets (NAT of listed ports) and passes the rest as they came."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    out = tmp_path_factory.mktemp("stream_obj") / "port_rewrite.o"
    return toolchain.build(ROOT / "programs" / "port_rewrite.c", out).output


def _target(obj, engine):
    from xdptool.runtime.target import program_target

    return program_target(str(obj), None, engine, str(ROOT / "programs" / "port_rewrite.maps.json"))


@pytest.mark.parametrize("nanosecond", [False, True])
def test_bulk_pcap_output_equals_packet_by_packet_output(tmp_path, rewrite_obj, nanosecond):
    """jit chunks (flat results) take the native bulk writer, vm chunks the per-packet
    PcapWriter: the files must be byte-identical, across chunks, with cut and changed packets."""
    from xdptool.runtime.engines import target_available

    for engine in ("jit", "vm"):
        if not target_available(engine)[0]:
            pytest.skip(f"{engine} is unavailable")
    base = read_capture(ROOT / "programs" / "port_rewrite.pcap")
    rng = random.Random(4)
    packets = [(bytes(base.data(rng.randrange(len(base)))), 100 + i, i * 7, base.lengths[0] + (i % 3))
               for i in range(300)]
    path = tmp_path / "in.pcap"
    path.write_bytes(classic(packets, nanosecond=nanosecond))
    outputs = {}
    for engine in ("jit", "vm"):
        target = _target(rewrite_obj, engine)
        eng, store = target.make()
        stream = CaptureStream(path, 64)
        sink = OutDirSink(tmp_path / engine, stream)
        replay(stream, eng, store, program_name=target.program.name, target=engine, sinks=(sink,))
        outputs[engine] = {name: (tmp_path / engine / name).read_bytes() for name in VERDICT_FILES.values()}
    assert outputs["jit"] == outputs["vm"]
    changed = read_capture(tmp_path / "jit" / "pass.pcap")
    assert any(bytes(changed.data(i)) != packets[i][0] for i in range(len(changed)))  # the test covers rewrites


def test_jsonl_lines_are_json_dumps_of_the_records(tmp_path, rewrite_obj):
    from xdptool.runtime.engines import target_available

    if not target_available("jit")[0]:
        pytest.skip("jit is unavailable")
    target = _target(rewrite_obj, "jit")
    engine, store = target.make()
    seen = []

    class Keep:
        def add(self, chunk):
            seen.extend(json.dumps(packet_record(chunk, i)) for i in range(len(chunk)))

        def close(self, summary, maps):
            pass

    text = io.StringIO()
    stream = CaptureStream(ROOT / "programs" / "port_rewrite.pcap", 3)
    replay(stream, engine, store, program_name=target.program.name, target="jit", sinks=(JsonLinesSink(text), Keep()))
    lines = text.getvalue().splitlines()
    assert lines[:-1] == seen and len(seen) == stream.packets


def test_json_is_a_summary_without_records(tmp_path, rewrite_obj):
    path = tmp_path / "in.pcap"
    base = read_capture(ROOT / "programs" / "port_rewrite.pcap")
    path.write_bytes(classic([bytes(base.data(i % len(base))) for i in range(500)]))
    result = CliRunner().invoke(cli, ["replay", str(rewrite_obj), str(path), "--maps-in",
                                      str(ROOT / "programs" / "port_rewrite.maps.json"), "--json", "--run-runts"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"summary", "maps"}
    assert document["summary"]["packets"] == 500
    assert document["summary"]["bytes_in"] == sum(len(base.data(i % len(base))) for i in range(500))


def _counted_pieces(stream: CaptureStream, log: dict):
    """stream.chunks(), counting the pieces made and noting whether the walk was closed."""
    chunks = stream.chunks

    def counted(**options):
        try:
            for piece in chunks(**options):
                log["made"] += 1
                yield piece
        finally:
            log["closed"] = True

    log.update(made=0, closed=False)
    stream.chunks = counted


def _read_ahead_threads() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "xdptool-read-ahead"]


def test_read_ahead_gives_every_piece_in_order_reading_at_most_one_ahead(tmp_path):
    """The helper thread reads piece k+1 while the caller has piece k, never further (the
    stream drops a piece's pages once the next but one is read), and the fraction handed
    with each piece is the stream's once that piece was read."""
    from xdptool.replay.driver import ReadAhead

    path = tmp_path / "big.pcap"
    path.write_bytes(classic(records(3000, seed=5)))
    whole = read_capture(path)
    stream, log = CaptureStream(path, 100, chunk_bytes=scan.NATIVE_MIN_BYTES), {}
    assert stream.reads_ahead
    _counted_pieces(stream, log)
    got, fractions = [], []
    for taken, (piece, fraction) in enumerate(ReadAhead(stream), start=1):
        assert taken <= log["made"] <= taken + 1
        got += [(piece.first_index + i, bytes(piece.data(i)), piece.timestamps[i]) for i in range(len(piece))]
        fractions.append(fraction)
    assert got == [(i, bytes(whole.data(i)), whole.timestamps[i]) for i in range(len(whole))]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and fractions[0] < 1.0
    assert log["closed"] and not _read_ahead_threads()


def test_read_ahead_starts_with_small_pieces_and_doubles_them(tmp_path):
    """A replay's run waits only for a short first walk (pcap.piece_sizes); pieces read
    without the ramp (a --trace head, the queues' feed) keep chunk_packets from the first."""
    from xdptool.replay.driver import ReadAhead

    path = tmp_path / "big.pcap"
    path.write_bytes(classic(records(3000, seed=5)))
    ramped = [len(piece) for piece, _ in ReadAhead(CaptureStream(path, 100, chunk_bytes=scan.NATIVE_MIN_BYTES))]
    assert ramped[:6] == [6, 12, 24, 48, 96, 100] and set(ramped[5:-1]) == {100} and sum(ramped) == 3000
    plain = [len(piece) for piece in CaptureStream(path, 100, chunk_bytes=scan.NATIVE_MIN_BYTES).chunks()]
    assert set(plain[:-1]) == {100} and sum(plain) == 3000


def test_pieces_kept_by_their_caller_keep_their_records(tmp_path):
    """A stream reuses the record arrays of pieces let go (pools.py); one its caller still
    holds is never written again, and pieces let go are reused without changing the result."""
    from xdptool.replay.driver import ReadAhead

    path = tmp_path / "big.pcap"
    path.write_bytes(classic(records(3000, seed=7)))
    whole = read_capture(path)
    expected = [(i, whole.offsets[i], whole.lengths[i], whole.timestamps[i]) for i in range(len(whole))]
    kept = [piece for piece, _ in ReadAhead(CaptureStream(path, 100, chunk_bytes=scan.NATIVE_MIN_BYTES))]
    assert [(p.first_index + i, p.offsets[i], p.lengths[i], p.timestamps[i]) for p in kept for i in range(len(p))] == expected
    seen = []
    for piece in CaptureStream(path, 100, chunk_bytes=scan.NATIVE_MIN_BYTES).chunks():
        seen += [(piece.first_index + i, piece.offsets[i], piece.lengths[i], piece.timestamps[i]) for i in range(len(piece))]
        del piece  # let go: its arrays go to the next pieces
    assert seen == expected


def test_read_ahead_raises_a_bad_record_in_the_caller_as_the_whole_file_reader_says(tmp_path):
    from xdptool.replay.driver import ReadAhead

    data = bytearray(classic(records(2000, seed=3)))
    del data[-5:]
    path = tmp_path / "bad.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(XdpError) as whole:
        read_capture(path)
    taken = []
    with pytest.raises(XdpError) as ahead:
        for piece, _fraction in ReadAhead(CaptureStream(path, 64, chunk_bytes=SMALL_CHUNK)):
            taken.append(len(piece))
    assert str(ahead.value) == str(whole.value) and sum(taken) > 0  # the pieces before it came first
    assert not _read_ahead_threads()


def test_read_ahead_left_early_waits_for_the_read_in_flight_then_closes_the_walk(tmp_path):
    from xdptool.replay.driver import ReadAhead

    path = tmp_path / "in.pcap"
    path.write_bytes(classic(records(400)))
    stream, log = CaptureStream(path, 7), {}
    _counted_pieces(stream, log)
    pieces = ReadAhead(stream)
    first, _fraction = next(pieces)
    assert first.first_index == 0 and len(first) == 1  # the ramp: 7 // 16, at least one packet
    pieces.close()
    assert log == {"made": 2, "closed": True} and not _read_ahead_threads()


def test_read_ahead_walks_the_first_piece_at_once_and_closes_unused(tmp_path):
    """A ReadAhead walks its first piece with nobody asking yet, no further; closed unused
    (its caller failed before the first piece), the read in flight is waited for and
    neither the thread nor the walk is left behind."""
    import time

    from xdptool.replay.driver import ReadAhead

    path = tmp_path / "in.pcap"
    path.write_bytes(classic(records(400)))
    stream, log = CaptureStream(path, 7), {}
    _counted_pieces(stream, log)
    pieces = ReadAhead(stream)
    for _ in range(200):  # the helper thread's first walk, without a next() from here
        if log["made"]:
            break
        time.sleep(0.01)
    time.sleep(0.05)
    assert log["made"] == 1 and not log["closed"]
    pieces.close()
    pieces.close()  # idempotent: the driver and the command may both close it
    assert log == {"made": 1, "closed": True} and not _read_ahead_threads()
    assert next(pieces, None) is None


def test_a_failing_run_stops_the_read_ahead_at_once(tmp_path):
    """An engine error reaches the caller, and neither the helper thread nor the walk
    outlives the replay (not left to whenever the traceback, which holds the replay's
    frame, is collected: `failure` keeps it alive here)."""

    class FailingEngine:  # run_batch only: the driver's generic path
        name = "failing"

        def run_batch(self, packets, ctx):
            raise XdpError("the engine failed")

    class NoMaps:
        def dump(self):
            return {}

    path = tmp_path / "big.pcap"
    path.write_bytes(classic(records(3000, seed=6)))
    stream, log = CaptureStream(path, 100, chunk_bytes=scan.NATIVE_MIN_BYTES), {}
    _counted_pieces(stream, log)
    with pytest.raises(XdpError, match="the engine failed") as failure:
        replay(stream, FailingEngine(), NoMaps(), program_name="p", target="failing")
    assert log["closed"] and log["made"] <= 2 and not _read_ahead_threads()
    assert failure.traceback  # still held while the above is checked
