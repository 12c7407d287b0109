"""The replay driver, sinks and comparison over a rule-based fake engine.

The fake's behaviour is a rule stated here (verdict from the last byte, a fault
on 0xEE, a per-verdict counter map), so every expectation below is computed
from the rule and the input packets, never from the code under test.
"""

from __future__ import annotations

import io
import json

import pytest

from test_pcap_builders import classic, ether_frame
from xdptool.elf.model import LineInfo
from xdptool.errors import XdpError
from xdptool.replay.compare import Side, compare
from xdptool.replay.driver import replay
from xdptool.replay.outputs import JsonLinesSink, OutDirSink, RecordsSink
from xdptool.replay.pcap import read_capture
from xdptool.replay.results import SHORT_PACKET_NOTE
from xdptool.runtime.contract import VERDICTS, Engine, Fault, RunResult, XdpContext

FAULT_BYTE = 0xEE
FAULT_LINE = LineInfo("fake.c", 42, 3, "x = *p;")


def rule(data: bytes) -> tuple[int, bytes, bool]:
    """(retval, output, faults?) of the fake program for one packet."""
    if data and data[-1] == FAULT_BYTE:
        return 0, data, True
    retval = data[-1] % 6 if data else 2  # 5 is not an XDP action
    output = bytes([data[0] ^ 0xFF]) + data[1:] if retval == 3 and data else data  # TX rewrites byte 0
    return retval, output, False


class CounterStore:
    def __init__(self):
        self.counts: dict[int, int] = {}

    def dump(self):
        return {"hits": [{"key": f"{k:02x}", "value": f"{v:016x}"} for k, v in sorted(self.counts.items())]}


class FakeEngine(Engine):
    name = "fake"

    def __init__(self, store: CounterStore, ctx_log: list | None = None, flip_at: int | None = None):
        self.store, self.ctx_log, self.flip_at, self.seen = store, ctx_log, flip_at, 0

    def run(self, packet: bytes, ctx: XdpContext | None = None) -> RunResult:
        if self.ctx_log is not None:
            self.ctx_log.append(ctx)
        retval, output, faults = rule(bytes(packet))
        if self.flip_at == self.seen:  # a deliberately different engine for comparisons
            output = output[:5] + bytes([output[5] ^ 1]) + output[6:]
        self.seen += 1
        if faults:
            return RunResult(retval=0, packet=output, fault=Fault.at("invalid read", 7, FAULT_LINE))
        self.store.counts[retval] = self.store.counts.get(retval, 0) + 1
        redirect = {"ifindex": 9} if retval == 4 else None
        return RunResult(retval=retval, packet=output, redirect=redirect)


def frames_with_tails(tails: list[int]) -> list[bytes]:
    return [ether_frame(b"payload" + bytes([t])) for t in tails]


def write(tmp_path, frames, name="in.pcap"):
    path = tmp_path / name
    path.write_bytes(classic([(f, 100 + i, i) for i, f in enumerate(frames)]))
    return read_capture(path)


def run_fake(capture, chunk_packets=4, sinks=(), ctx=None, ctx_log=None):
    store = CounterStore()
    engine = FakeEngine(store, ctx_log)
    return replay(capture, engine, store, program_name="fake_prog", target="fake", ctx=ctx, sinks=sinks,
                  chunk_packets=chunk_packets)  # fmt: skip


def expected_verdicts(frames) -> dict[str, int]:
    counts = {name: 0 for name in VERDICTS}
    for frame in frames:
        retval, _, faults = rule(frame)
        name = "XDP_ABORTED" if faults else (VERDICTS[retval] if retval < 5 else str(retval))
        counts[name] = counts.get(name, 0) + 1
    return counts


def test_every_packet_runs_in_order_and_map_state_carries_across_chunks(tmp_path):
    tails = [0, 1, 2, 3, 4, 5, 2, 2, 1, 3, 4, 2, 7, 8]
    frames = frames_with_tails(tails)
    capture = write(tmp_path, frames)
    log: list = []
    outcome = run_fake(capture, chunk_packets=3, ctx=XdpContext(ingress_ifindex=5, rx_queue_index=2), ctx_log=log)
    summary = outcome.summary
    assert summary["packets"] == len(frames)
    assert summary["verdicts"] == expected_verdicts(frames)
    assert summary["bytes_in"] == sum(map(len, frames))
    assert summary["bytes_out"] == sum(len(rule(f)[1]) for f in frames)
    hits = {}
    for frame in frames:
        hits[rule(frame)[0]] = hits.get(rule(frame)[0], 0) + 1
    assert outcome.maps == {"hits": [{"key": f"{k:02x}", "value": f"{v:016x}"} for k, v in sorted(hits.items())]}
    assert summary["map_changes"] == {
        "hits": {"added": len(hits), "changed": 0, "removed": 0, "keys": {"added": [f"{k:02x}" for k in sorted(hits)]}}
    }
    assert {(c.ingress_ifindex, c.rx_queue_index) for c in log} == {(5, 2)} and len(log) == len(frames)


def test_a_faulting_packet_is_reported_counted_as_aborted_and_replay_goes_on(tmp_path):
    tails = [2, FAULT_BYTE, 1, 2, FAULT_BYTE, 3]
    frames = frames_with_tails(tails)
    records = RecordsSink()
    outcome = run_fake(write(tmp_path, frames), sinks=(records,))
    summary = outcome.summary
    assert summary["packets"] == 6
    assert summary["verdicts"]["XDP_ABORTED"] == 2 and summary["verdicts"]["XDP_PASS"] == 2
    assert summary["faults"]["count"] == 2
    assert summary["faults"]["first"][0] == {"index": 1, "insn": 7, "line": "fake.c:42", "source": "x = *p;", "message": "invalid read"}
    assert [r["verdict"] for r in records.records] == ["XDP_PASS", "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_ABORTED", "XDP_TX"]
    assert records.records[4]["fault"]["insn"] == 7


def test_short_and_zero_length_packets_run_and_are_called_out(tmp_path):
    frames = [ether_frame(b"\x02"), b"\x02", b"", b"\x01" * 13, ether_frame(b"\x01")]
    records = RecordsSink()
    summary = run_fake(write(tmp_path, frames), sinks=(records,)).summary
    assert summary["packets"] == 5
    assert summary["short_packets"] == {"count": 3, "first": [1, 2, 3], "note": SHORT_PACKET_NOTE, "not_run": 0}
    assert summary["zero_length"] == 1
    assert records.records[2] == {"index": 2, "verdict": "XDP_PASS", "retval": 2, "data_out": ""}


class KernelLikeEngine(FakeEngine):
    name = "kernel"

    def run(self, packet, ctx=None):
        assert len(packet) >= 14, "the kernel's test run refuses this"
        return super().run(packet, ctx)


def test_on_the_kernel_short_packets_are_left_out_and_indices_stay_those_of_the_file(tmp_path):
    frames = [ether_frame(b"\x02"), b"\x01", ether_frame(b"\x03"), b"", ether_frame(b"\x01")]
    capture = write(tmp_path, frames)
    store, records = CounterStore(), RecordsSink()
    sink = OutDirSink(tmp_path / "out", capture)
    summary = replay(capture, KernelLikeEngine(store), store, program_name="p", target="kernel",
                     sinks=(records, sink), chunk_packets=2).summary  # fmt: skip
    assert [(r["index"], r["verdict"]) for r in records.records] == [(0, "XDP_PASS"), (2, "XDP_TX"), (4, "XDP_DROP")]
    assert summary["packets"] == 3 and summary["short_packets"]["not_run"] == 2
    assert "left out" in summary["short_packets"]["note"]
    assert summary["bytes_in"] == sum(len(frames[i]) for i in (0, 2, 4))
    from scapy.utils import RawPcapReader

    assert [meta.sec for _, meta in RawPcapReader(str(tmp_path / "out" / "drop.pcap"))] == [104]
    kernel_side = Side("kernel", lambda: (lambda s: (KernelLikeEngine(s), s))(CounterStore()))
    result = compare(capture, side("vm"), kernel_side, chunk_packets=2)
    assert result.identical and result.not_run == 2 and result.packets == 3


def test_records_and_json_lines_have_the_documented_shape(tmp_path):
    frames = frames_with_tails([3, 4, FAULT_BYTE])
    stream = io.StringIO()
    records = RecordsSink()
    outcome = run_fake(write(tmp_path, frames), sinks=(records, JsonLinesSink(stream)))
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[:3] == records.records
    assert lines[3] == {"summary": outcome.summary, "maps": outcome.maps}
    tx, redirect, fault = records.records
    assert tx == {"index": 0, "verdict": "XDP_TX", "retval": 3, "data_out": rule(frames[0])[1].hex()}
    assert redirect["redirect"] == {"ifindex": 9} and redirect["verdict"] == "XDP_REDIRECT"
    assert set(fault) == {"index", "verdict", "retval", "data_out", "fault"}
    assert set(outcome.summary) >= {"packets", "verdicts", "bytes_in", "bytes_out", "short_packets", "faults", "map_changes"}


def test_out_dir_pcaps_hold_each_verdicts_output_packets(tmp_path):
    from scapy.utils import RawPcapReader

    tails = [0, 1, 2, 3, 4, 5, FAULT_BYTE, 2, 3]
    frames = frames_with_tails(tails)
    capture = write(tmp_path, frames)
    sink = OutDirSink(tmp_path / "out", capture)
    run_fake(capture, sinks=(sink,))
    expected = {name: [] for name in ("pass", "drop", "tx", "redirect", "aborted")}
    file_of = {0: "aborted", 1: "drop", 2: "pass", 3: "tx", 4: "redirect", 5: "aborted"}  # 5: the kernel aborts
    for index, frame in enumerate(frames):
        retval, output, faults = rule(frame)
        expected["aborted" if faults else file_of[retval]].append((output, 100 + index))
    for name, packets in expected.items():
        read = list(RawPcapReader(str(tmp_path / "out" / f"{name}.pcap")))
        assert [(data, meta.sec) for data, meta in read] == packets, name
    assert sink.files[str(tmp_path / "out" / "tx.pcap")] == 2


def test_non_ethernet_capture_is_refused(tmp_path):
    path = tmp_path / "raw.pcap"
    path.write_bytes(classic([b"\x45" + b"\0" * 19], linktype=101))
    with pytest.raises(XdpError, match="link type 101; XDP replays need Ethernet"):
        run_fake(read_capture(path))


def side(name: str, flip_at: int | None = None) -> Side:
    def make():
        store = CounterStore()
        return FakeEngine(store, flip_at=flip_at), store

    return Side(name, make)


def test_compare_identical_engines_reports_no_difference(tmp_path):
    capture = write(tmp_path, frames_with_tails([1, 2, 3, 4, FAULT_BYTE] * 3))
    result = compare(capture, side("a"), side("b"), chunk_packets=4)
    assert result.identical and result.packets == 15 and result.mismatches == []


def test_compare_names_packet_byte_offset_and_both_values(tmp_path):
    frames = frames_with_tails([2, 2, 2, 1, 2, 2])
    capture = write(tmp_path, frames)
    result = compare(capture, side("vm"), side("jit", flip_at=4), chunk_packets=4)
    assert not result.identical and result.differing_packets == 1
    (mismatch,) = result.mismatches
    byte = rule(frames[4])[1][5]
    assert mismatch.describe(result.names) == f"packet 4: data_out byte 5: vm 0x{byte:02x}, jit 0x{byte ^ 1:02x}"


def test_compare_locates_the_packet_where_map_state_parts(tmp_path):
    class Skewed(FakeEngine):
        def run(self, packet, ctx=None):
            result = super().run(packet, ctx)
            if self.seen == 6:  # after packet 5, count one hit too many (output unchanged)
                self.store.counts[99] = 1
            return result

    def make_skewed():
        store = CounterStore()
        return Skewed(store), store

    capture = write(tmp_path, frames_with_tails([2] * 10))
    result = compare(capture, side("vm"), Side("jit", make_skewed), chunk_packets=8)
    assert [m.describe(result.names) for m in result.mismatches] == ["packet 5: map hits key 63: vm absent, jit 0000000000000001"]


@pytest.mark.parametrize("typecode", ["B", "H", "I", "L", "Q", "i"])
def test_verdict_counting_shortcut_agrees_with_plain_counting(typecode):
    from array import array

    from xdptool.replay.results import count_small_values

    small = [2, 1, 1, 0, 4, 3, 2, 2, 9, 0, 1]
    values = array(typecode, small)
    assert count_small_values(values, 5) == [small.count(v) for v in range(5)]
    if typecode != "B":  # values whose higher bytes are set must not be mistaken for small ones
        tricky = [0x200, 0, 2, 0x2_0000 if typecode not in "H" else 0x202, 1]
        assert count_small_values(array(typecode, tricky), 5) == [tricky.count(v) for v in range(5)]
    assert count_small_values(small, 5) == [small.count(v) for v in range(5)]


def test_native_tally_agrees_with_counting_and_summing_in_python():
    """The summary's per-chunk pass (kernels.tally): counts of 0..limit-1, one count for
    everything larger, and the sum, as Python counts and sums them."""
    import random
    from array import array

    from xdptool.replay.kernels import tally

    rng = random.Random(3)
    values = [rng.choice([0, 1, 2, 3, 4, 5, 77, 0xFFFFFFFF]) for _ in range(5000)]
    counts, total = tally(array("I", values), 5)
    assert counts == [values.count(v) for v in range(5)] + [sum(v >= 5 for v in values)]
    assert total == sum(values)  # no 32-bit wrap: 0xFFFFFFFF many times over
    assert tally(array("I"), 5) == ([0] * 6, 0)
