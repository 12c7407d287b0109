"""Multi-queue replay (issue 15 item 5): RSS (Toeplitz) spreads packets over queues, each
queue runs in its own worker (a thread for the jit, a process for the vm) on its own CPU,
results come back in capture order, the same whichever workers ran them.

The hash is held to Microsoft's published verification results ("Verifying the RSS
Hash Calculation": key 6d5a56da..., the IPv4 and IPv6 rows); the native hash to the
Python definition; replays with --queues N to --queues 1 and to what the queue
program below states it does.
"""

from __future__ import annotations

import json
import random
import shutil
import socket
import struct
from array import array

import pytest
from click.testing import CliRunner

from test_pcap_builders import classic
from xdptool.cli.main import cli
from xdptool.replay import rss
from xdptool.replay.pcap import read_capture

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent

# (source, source port, destination, destination port) -> (hash with ports, hash of the addresses)
MICROSOFT_IPV4 = [
    (("66.9.149.187", 2794, "161.142.100.80", 1766), (0x51CCC178, 0x323E8FC2)),
    (("199.92.111.2", 14230, "65.69.140.83", 4739), (0xC626B0EA, 0xD718262A)),
    (("24.19.198.95", 12898, "12.22.207.184", 38024), (0x5C2B394A, 0xD2D0A5DE)),
    (("38.27.205.30", 48228, "209.142.163.6", 2217), (0xAFC7327F, 0x82989176)),
    (("153.39.163.191", 44251, "202.188.127.2", 1303), (0x10E828A2, 0x5D1809C5)),
]
MICROSOFT_IPV6 = [
    (("3ffe:2501:200:1fff::7", 2794, "3ffe:2501:200:3::1", 1766), (0x40207D3D, 0x2CC18CD5)),
]


@pytest.mark.parametrize("family, row", [(socket.AF_INET, r) for r in MICROSOFT_IPV4]
                         + [(socket.AF_INET6, r) for r in MICROSOFT_IPV6])
def test_toeplitz_matches_microsofts_verification_table(family, row):
    (src, sport, dst, dport), (with_ports, addresses_only) = row
    addresses = socket.inet_pton(family, src) + socket.inet_pton(family, dst)
    assert rss.toeplitz(addresses + struct.pack("!HH", sport, dport)) == with_ports
    assert rss.toeplitz(addresses) == addresses_only


def frame_mix(count: int, seed: int = 7) -> list[bytes]:
    """TCP/UDP/ICMP over IPv4/IPv6, VLAN-tagged, fragments, ARP, runts, cut headers."""
    from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, IPv6
    from scapy.all import Ether as ScapyEther

    def Ether():  # noqa: N802 - fixed addresses: scapy would otherwise resolve the destination (ARP)
        return ScapyEther(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    rng = random.Random(seed)
    frames = []
    for _ in range(count):
        v4 = IP(src=f"10.0.{rng.randrange(4)}.{rng.randrange(256)}", dst="192.0.2.1")
        v6 = IPv6(src=f"2001:db8::{rng.randrange(65536):x}", dst="2001:db8::1")
        l4 = rng.choice([TCP(sport=rng.randrange(1, 65536), dport=80), UDP(sport=rng.randrange(1, 65536), dport=53), ICMP()])
        kind = rng.randrange(8)
        if kind == 0:
            frame = bytes(Ether() / ARP())
        elif kind == 1:
            frame = bytes(Ether() / Dot1Q(vlan=5) / v4 / l4)
        elif kind == 2:
            frame = bytes(Ether() / IP(src="10.1.1.1", dst="10.2.2.2", flags="MF") / UDP(sport=1, dport=2))
        elif kind == 3:
            frame = bytes(Ether() / v4 / l4)[: rng.randrange(10, 40)]  # runt or cut header
        elif kind in (4, 5):
            frame = bytes(Ether() / v6 / (l4 if not isinstance(l4, ICMP) else UDP()))
        else:
            frame = bytes(Ether() / v4 / l4)
        frames.append(frame)
    return frames


def test_native_hash_and_queue_selection_match_the_definition():
    frames = frame_mix(400)
    buffer = b"".join(frames)
    offsets = array("Q", [0])
    for frame in frames[:-1]:
        offsets.append(offsets[-1] + len(frame))
    lengths = array("I", map(len, frames))
    assert list(rss.native_hashes(buffer, offsets, lengths)) == [rss.flow_hash(f) for f in frames]
    for queues in (1, 2, 3):
        picked = [list(rss.select(buffer, offsets, lengths, queues, q)[0]) for q in range(queues)]
        assert picked == [[i for i, f in enumerate(frames) if rss.queue_of(f, queues) == q] for q in range(queues)]


def test_hash_input_follows_the_stated_rules():
    from scapy.all import ARP, IP, TCP, UDP
    from scapy.all import Ether as ScapyEther

    def Ether():  # noqa: N802
        return ScapyEther(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")

    tcp = bytes(Ether() / IP(src="1.2.3.4", dst="5.6.7.8") / TCP(sport=10, dport=20))
    assert rss.hash_input(tcp) == bytes([1, 2, 3, 4, 5, 6, 7, 8]) + struct.pack("!HH", 10, 20)
    fragment = bytes(Ether() / IP(src="1.2.3.4", dst="5.6.7.8", frag=3) / UDP(sport=10, dport=20))
    assert rss.hash_input(fragment) == bytes([1, 2, 3, 4, 5, 6, 7, 8])
    assert rss.hash_input(bytes(Ether() / ARP())) == b"" and rss.queue_of(bytes(Ether() / ARP()), 4) == 0
    assert list(rss.indirection_table(3)[:7]) == [0, 1, 2, 0, 1, 2, 0]


QUEUE_PROGRAM = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* per queue: packets seen (key = rx_queue_index), in per-CPU slots */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} per_queue SEC(".maps");

/* XDP_PASS when the packet's queue is the CPU running it (as on an RSS NIC with one
   queue per CPU), else XDP_DROP; the last byte of the packet becomes the queue number */
SEC("xdp")
int queue_check(struct xdp_md *ctx)
{
	__u32 queue = ctx->rx_queue_index;
	__u64 *count = bpf_map_lookup_elem(&per_queue, &queue);
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (count)
		*count += 1;
	if (data + 15 <= end)
		data[14] = queue;
	return queue == bpf_get_smp_processor_id() ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def queue_obj(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    folder = tmp_path_factory.mktemp("queues")
    (folder / "queue_check.c").write_text(QUEUE_PROGRAM)
    return toolchain.build(folder / "queue_check.c", folder / "queue_check.o").output


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("engine, workers", [("jit", "threads"), ("jit", "processes"), ("vm", "processes"),
                                             ("vm", "threads")])
def test_each_packet_runs_on_its_rss_queue_and_cpu(tmp_path, queue_obj, engine, workers, monkeypatch):
    """Packet -> queue by RSS, queue i on CPU i: rx_queue_index and the CPU agree, per-CPU
    slot i counts queue i's packets, whichever workers (threads, processes) run the queues."""
    from xdptool.replay import queues as queue_module

    monkeypatch.setitem(queue_module.WORKERS, engine, workers)
    frames = [f for f in frame_mix(300, seed=11) if len(f) >= 15]
    path = tmp_path / "in.pcap"
    path.write_bytes(classic(frames))
    queues = 3
    result = invoke("replay", queue_obj, path, "--queues", queues, "--target", engine, "--json",
                    "--out-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    expected = [rss.queue_of(f, queues) for f in frames]
    summary = document["summary"]
    assert summary["queues"]["workers"] == workers
    assert summary["verdicts"]["XDP_PASS"] == len(frames)  # rx_queue_index == CPU on every packet
    assert summary["queues"]["packets"] == [expected.count(q) for q in range(queues)]
    # the output pcap holds every packet in capture order, byte 14 set to its queue
    out = read_capture(tmp_path / "out" / "pass.pcap")
    assert [bytes(out.data(i)) for i in range(len(out))] == [f[:14] + bytes([q]) + f[15:] for f, q in zip(frames, expected)]
    # per-CPU slot q of entry q counts queue q's packets; no CPU touched another queue's entry
    entries = {int(e["key"][:2], 16): [int.from_bytes(bytes.fromhex(v), "little") for v in e["value"]]
               for e in document["maps"]["per_queue"]}
    for q in range(4):
        assert entries[q] == [expected.count(q) if cpu == q else 0 for cpu in range(queues)]


def test_one_queue_and_many_agree_on_what_does_not_depend_on_the_queue(tmp_path, built_examples):
    """proto_counters: verdicts, bytes and the shared counters (summed) as with one queue;
    the per-CPU byte counts of all queues add up to the single queue's."""
    obj, capture = built_examples["proto_counters"], ROOT / "programs" / "proto_counters.pcap"
    one = json.loads(invoke("replay", obj, capture, "--json").stdout)
    refused = invoke("replay", obj, capture, "--queues", 2, "--json")
    assert refused.exit_code == 2 and "--sum-shared-maps" in refused.output and "packets" in refused.output
    two = json.loads(invoke("replay", obj, capture, "--queues", 2, "--sum-shared-maps", "--json").stdout)
    assert two["summary"]["verdicts"] == one["summary"]["verdicts"]
    assert two["summary"]["queues"]["shared_maps_summed"] == ["packets"]
    assert [e["value"] for e in two["maps"]["packets"]] == [e["value"] for e in one["maps"]["packets"]]

    def total(entry):
        return sum(int.from_bytes(bytes.fromhex(v), "little") for v in entry["value"])

    assert [total(e) for e in two["maps"]["bytes"]] == [total(e) for e in one["maps"]["bytes"]]


def test_queue_options_refused_where_they_cannot_apply(tmp_path, queue_obj):
    capture = ROOT / "programs" / "proto_counters.pcap"
    cases = [
        (["--queues", 2, "--compare", "vm"], "--compare runs one queue"),
        (["--sum-shared-maps"], "--sum-shared-maps is for --queues"),
        (["--queues", 2, "--rx-queue", 1], "--rx-queue names the one queue"),
        (["--queues", 2, "--target", "kernel"], "--queues runs on the jit or vm engine"),
    ]
    for args, message in cases:
        result = invoke("replay", queue_obj, capture, *args)
        assert result.exit_code == 2 and message in result.output, (args, result.output)


class Recorder:
    """A sink keeping every packet's verdict code and output bytes, in the order given."""

    def __init__(self):
        self.retvals, self.packets = [], []

    def add(self, chunk):
        self.retvals += list(chunk.retvals)
        self.packets += [chunk.output(i) for i in range(len(chunk))]

    def close(self, document, maps):
        pass


def small_chunks_replay(tmp_path, queue_obj, queues: int, chunk_packets: int = 7, workers: str | None = None):
    from xdptool.replay.queues import QueueReplay
    from xdptool.runtime.target import program_target

    frames = [f for f in frame_mix(200, seed=5) if len(f) >= 15]
    path = tmp_path / "in.pcap"
    path.write_bytes(classic(frames))
    runner = QueueReplay(str(path), program_target(str(queue_obj), None, "jit"), queues, chunk_packets=chunk_packets,
                         workers=workers)
    return frames, runner


@pytest.mark.parametrize("workers, queues", [("threads", 3), ("processes", 3), ("threads", 8)])
def test_queues_share_the_hashing_of_every_chunk(tmp_path, queue_obj, workers, queues):
    """Many chunks: each worker hashes a slice of every chunk into shared memory (two arrays,
    used alternately) and picks its own packets from the whole; every packet still runs once,
    on its RSS queue, and comes back in capture order (8 threads on chunks of 7 packets: the
    workers pass the barrier ~30 times, some with no packet of their own)."""
    frames, runner = small_chunks_replay(tmp_path, queue_obj, queues, workers=workers)
    assert runner.pool.kind == workers
    recorder = Recorder()
    outcome = runner.run(program_name="queue_check", sinks=(recorder,))
    expected = [rss.queue_of(f, queues) for f in frames]
    assert recorder.retvals == [2] * len(frames)  # XDP_PASS: rx_queue_index == CPU on every packet
    assert recorder.packets == [f[:14] + bytes([q]) + f[15:] for f, q in zip(frames, expected)]
    assert outcome.summary["queues"]["packets"] == [expected.count(q) for q in range(queues)]
    assert not any(worker.is_alive() for worker in runner.workers)


@pytest.mark.parametrize("failure, workers", [("killed", "processes"), ("error", "processes"), ("error", "threads")])
def test_a_failing_worker_stops_the_replay(tmp_path, queue_obj, monkeypatch, failure, workers):
    """A worker that dies (killed: a process) or fails (bad input) ends the replay with its
    error; the other workers, waiting at the shared hashing's barrier, stop too instead of
    hanging."""
    import os
    import signal
    import time

    from xdptool.errors import XdpError
    from xdptool.replay import queues as queue_module

    real_run = queue_module._run

    def failing_run(engine, buffer, offsets, lengths, ctx):
        if ctx.rx_queue_index == 1:
            if failure == "killed":
                os.kill(os.getpid(), signal.SIGKILL)
            raise XdpError("queue one refuses")
        return real_run(engine, buffer, offsets, lengths, ctx)

    monkeypatch.setattr(queue_module, "_run", failing_run)
    _, runner = small_chunks_replay(tmp_path, queue_obj, 2, workers=workers)
    started = time.monotonic()
    expected = (RuntimeError, "queue 1's worker process ended without a result") if failure == "killed" else (
        XdpError, "queue one refuses")
    with pytest.raises(expected[0], match=expected[1]):
        runner.run(program_name="queue_check")
    assert time.monotonic() - started < 4  # not the 5 s a hung worker gets before it is terminated
    assert not any(worker.is_alive() for worker in runner.workers)


# Examples whose verdicts and output packets do not depend on the queue, the CPU or the order
# in which packets update shared state: --queues N must give what one queue gives.
QUEUE_BLIND = ("proto_counters", "port_rewrite", "mac_swap", "encap", "decap", "truncate", "port_blocklist")
# Every example with its capture, for threads against processes (the queues' results are the
# same whatever runs them, whether the program depends on the queue or not).
WITH_STATE = QUEUE_BLIND + ("syn_ratelimit", "l4_lb", "global_data", "redirect_devmap")
TIMES = ("seconds", "packets_per_second", "timing")  # the only summary fields that may differ


def replay_outputs(tmp_path, obj, name: str, workers: str | None, *extra, sinks: bool = True) -> dict:
    """Everything a replay wrote: the JSON document (times removed), the --out-dir pcaps'
    bytes and --maps-out, with the queues' workers forced to `workers`."""
    from xdptool.replay import queues as queue_module

    folder = tmp_path / f"{name}-{workers}-{len(extra)}-{sinks}"
    maps_in = ROOT / "programs" / f"{name}.maps.json"
    args = ["replay", obj, ROOT / "programs" / f"{name}.pcap", "--json", *extra,
            *(["--maps-in", maps_in] if maps_in.exists() else []),
            *(["--out-dir", folder / "out", "--maps-out", folder / "maps.json"] if sinks else [])]
    saved = dict(queue_module.WORKERS)
    if workers is not None:
        queue_module.WORKERS.update(dict.fromkeys(saved, workers))
    try:
        result = invoke(*args)
    finally:
        queue_module.WORKERS.update(saved)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout.replace(str(folder), "FOLDER"))  # the outputs' paths, named alike
    for key in TIMES:
        document["summary"].pop(key)
    files = {p.name: p.read_bytes() for p in sorted((folder / "out").iterdir())} if sinks else {}
    if sinks:
        files["maps.json"] = (folder / "maps.json").read_bytes()
    return {"document": document, "files": files}


@pytest.mark.parametrize("engine", ["jit", "vm"])
def test_threads_and_processes_give_the_same_bytes(tmp_path, built_examples, engine):
    """Each example with --queues 3 run by worker threads and by worker processes (the one
    path before threads): the same JSON document (but the times and `queues.workers`), the
    same output pcaps and map file, byte for byte; without sinks too (the summary then takes
    each queue's results unmerged)."""
    names = WITH_STATE if engine == "jit" else ("proto_counters", "syn_ratelimit", "global_data")  # the vm is slow
    for name in names:
        for sinks in (True, False):
            runs = {workers: replay_outputs(tmp_path, built_examples[name], name, workers, "--target", engine,
                                            "--queues", 3, "--sum-shared-maps", sinks=sinks)
                    for workers in ("threads", "processes")}
            assert runs["threads"]["document"]["summary"]["queues"].pop("workers") == "threads"
            assert runs["processes"]["document"]["summary"]["queues"].pop("workers") == "processes"
            assert runs["threads"] == runs["processes"], (name, sinks)
            assert sum(runs["threads"]["document"]["summary"]["verdicts"].values()) > 0


def test_queues_give_what_one_queue_gives_where_the_queue_does_not_matter(tmp_path, built_examples):
    """Queue-blind examples: --queues 3 (threads, the jit's default) writes the same output
    pcaps and the same verdict counts, bytes and faults as a plain replay; the per-CPU values
    of the three queues add up to the single queue's."""
    for name in QUEUE_BLIND:
        one = replay_outputs(tmp_path, built_examples[name], name, None)
        three = replay_outputs(tmp_path, built_examples[name], name, None, "--queues", 3, "--sum-shared-maps")
        summary = three["document"]["summary"]
        assert summary.pop("queues")["workers"] == "threads"
        assert summary == one["document"]["summary"], name
        assert {k: v for k, v in three["files"].items() if k != "maps.json"} == \
            {k: v for k, v in one["files"].items() if k != "maps.json"}, name
        for map_name, entries in one["document"]["maps"].items():
            for single, spread in zip(entries, three["document"]["maps"][map_name]):
                assert single["key"] == spread["key"]
                if isinstance(single["value"], list):  # per-CPU: one slot with one queue, three with three
                    assert sum(int.from_bytes(bytes.fromhex(v), "little") for v in spread["value"]) == \
                        int.from_bytes(bytes.fromhex(single["value"][0]), "little"), (name, map_name)
                else:
                    assert spread["value"] == single["value"], (name, map_name)


FAULTING_PROGRAM = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* About one packet in six (by its 16th byte) reads far outside the packet: a fault */
SEC("xdp")
int fault_some(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (data + 16 > end)
		return XDP_PASS;
	if (data[15] < 43)
		return *(volatile int *)(data + 100000);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
"""


def test_faults_are_reported_by_capture_index_with_or_without_sinks(tmp_path, queue_obj):
    """Faults on several queues: the summary's count and first faults (lowest capture
    indices) are a plain replay's, whether the queues' results were merged into capture
    order (a sink) or summarised as each queue gave them (none)."""
    from xdptool import toolchain

    (tmp_path / "fault_some.c").write_text(FAULTING_PROGRAM)
    obj = toolchain.build(tmp_path / "fault_some.c", tmp_path / "fault_some.o").output
    frames = frame_mix(400, seed=3)
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic(frames))
    plain = json.loads(invoke("replay", obj, capture, "--json").stdout)["summary"]
    faulting = [i for i, f in enumerate(frames) if len(f) >= 16 and f[15] < 43]
    assert plain["faults"]["count"] == len(faulting) > 10  # more than the summary lists
    assert [f["index"] for f in plain["faults"]["first"]] == faulting[:10]
    for sinks in ([], ["--out-dir", tmp_path / "out", "--force"]):
        spread = json.loads(invoke("replay", obj, capture, "--json", "--queues", 3, *sinks).stdout)["summary"]
        assert spread["queues"]["workers"] == "threads" and min(spread["queues"]["packets"]) > 0
        assert spread["faults"] == plain["faults"] and spread["verdicts"] == plain["verdicts"]
        assert spread["bytes_out"] == plain["bytes_out"]


def test_the_text_summary_names_the_queues_and_their_workers(tmp_path, queue_obj):
    frames = [f for f in frame_mix(60, seed=2) if len(f) >= 15]
    path = tmp_path / "in.pcap"
    path.write_bytes(classic(frames))
    expected = [rss.queue_of(f, 2) for f in frames]
    for engine, workers in (("jit", "threads"), ("vm", "processes")):
        result = invoke("replay", queue_obj, path, "--queues", 2, "--target", engine)
        assert result.exit_code == 0, result.output
        assert (f"2 receive queues by RSS (toeplitz), run by {workers}: queue 0: {expected.count(0)}, "
                f"queue 1: {expected.count(1)}") in result.output


def test_a_jit_that_runs_its_program_interpreted_gets_processes(tmp_path, queue_obj, monkeypatch):
    """A program too large for the jit runs on its shadow interpreter (Python): its queues
    then run as processes, as the vm's do (threads would take turns on the GIL)."""
    from xdptool.runtime.jit import engine as jit_engine

    monkeypatch.setattr(jit_engine, "too_large", lambda program: True)
    frames, runner = small_chunks_replay(tmp_path, queue_obj, 2)
    assert runner.pool.kind == "processes"
    outcome = runner.run(program_name="queue_check")
    assert outcome.summary["queues"]["workers"] == "processes"
    assert outcome.summary["verdicts"]["XDP_PASS"] == len(frames)
