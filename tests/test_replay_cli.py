"""`xdptool replay` through click's CliRunner: bad input, outputs, JSON, --compare."""

from __future__ import annotations

import functools
import json
import shutil

import pytest
from click.testing import CliRunner

from test_pcap import MALFORMED
from test_pcap_builders import classic, ether_frame
from test_replay_driver import FAULT_BYTE, CounterStore, FakeEngine, frames_with_tails, rule
from xdptool.cli.main import cli
from xdptool.replay.session import NO_OFFLOAD

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
needs_clang = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


@pytest.fixture(scope="module")
def blocklist_obj(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    out = tmp_path_factory.mktemp("replay_obj") / "port_blocklist.o"
    return toolchain.build(ROOT / "programs" / "port_blocklist.c", out).output


def one_line_error(result, code=2) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@needs_clang
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_capture_exits_2_with_one_line(tmp_path, blocklist_obj, case):
    content, message = MALFORMED[case]
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    line = one_line_error(invoke("replay", blocklist_obj, path))
    assert str(path) in line and message in line


@needs_clang
@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.pcap"], "missing.pcap: no such file"),
        (["good.pcap", "--maps-in", "bad.json"], "bad.json: not JSON"),
        (["good.pcap", "--maps-in", "wrong.json"], "wrong.json: no map named 'nope'"),
        (["good.pcap", "--json", "--jsonl"], "--json and --jsonl are exclusive"),
    ],
)
def test_bad_usage_exits_2_with_one_line(tmp_path, monkeypatch, blocklist_obj, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.pcap").write_bytes(classic([ether_frame()]))
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "wrong.json").write_text('{"nope": []}')
    assert message in one_line_error(invoke("replay", blocklist_obj, *args))


def test_without_prog_and_nothing_offloaded_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.pcap").write_bytes(classic([ether_frame()]))
    assert one_line_error(invoke("replay", "good.pcap")) == f"error: {NO_OFFLOAD}"


@pytest.fixture
def fake_engines(monkeypatch):
    """Target.make returns the rule-based fake; the `jit` side differs at packet 3 when asked."""
    state = {"flip_jit_at": None}

    def make(self, name=None):
        store = CounterStore()
        flip = state["flip_jit_at"] if (name or self.name) == "jit" else None
        return FakeEngine(store, flip_at=flip), store

    monkeypatch.setattr("xdptool.runtime.target.Target.make", make)
    return state


@needs_clang
def test_json_document_out_dir_and_maps_out(tmp_path, blocklist_obj, fake_engines):
    from scapy.utils import RawPcapReader

    frames = frames_with_tails([2, 1, FAULT_BYTE, 3, 2])
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic(frames))
    result = invoke("replay", blocklist_obj, capture, "--json", "--out-dir", tmp_path / "out",
                    "--maps-out", tmp_path / "maps.json")  # fmt: skip
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) == {"summary", "maps"}  # per-packet records are --jsonl's
    lines = [json.loads(line) for line in invoke("replay", blocklist_obj, capture, "--jsonl").stdout.splitlines()]
    packets = lines[:-1]
    assert [p["index"] for p in packets] == list(range(5))
    assert [p["verdict"] for p in packets] == ["XDP_PASS", "XDP_DROP", "XDP_ABORTED", "XDP_TX", "XDP_PASS"]
    assert packets[3]["data_out"] == rule(frames[3])[1].hex()
    assert lines[-1]["summary"]["verdicts"] == document["summary"]["verdicts"]
    assert document["summary"]["faults"]["count"] == 1 and document["summary"]["faults"]["first"][0]["index"] == 2
    assert json.loads((tmp_path / "maps.json").read_text()) == document["maps"]
    passed = [data for data, _ in RawPcapReader(str(tmp_path / "out" / "pass.pcap"))]
    assert passed == [frames[0], frames[4]]


@needs_clang
def test_jsonl_streams_one_line_per_packet_then_the_summary(tmp_path, blocklist_obj, fake_engines):
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic(frames_with_tails([2, 2, 1])))
    result = invoke("replay", blocklist_obj, capture, "--jsonl")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("index") for line in lines] == [0, 1, 2, None]
    assert lines[-1]["summary"]["verdicts"]["XDP_PASS"] == 2


@needs_clang
def test_human_summary_calls_out_short_packets(tmp_path, blocklist_obj, fake_engines):
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic([ether_frame(b"\x02"), b"\x02" * 9]))
    result = invoke("replay", blocklist_obj, capture)
    assert result.exit_code == 0, result.output
    assert "replayed 1 packets" in result.stdout and "refused (runt)  1" in result.stdout
    assert "1 frames under 14 bytes refused (records 1): BPF_PROG_TEST_RUN refuses frames that short" in result.stderr
    result = invoke("replay", blocklist_obj, capture, "--run-runts")
    assert "replayed 2 packets" in result.stdout
    assert "1 frames under 14 bytes run (records 1, --run-runts)" in result.stderr


@needs_clang
def test_compare_exit_codes_and_mismatch_report(tmp_path, blocklist_obj, fake_engines):
    frames = frames_with_tails([2, 1, 2, 3, 2])
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic(frames))
    same = invoke("replay", blocklist_obj, capture, "--target", "vm", "--compare", "jit")
    assert same.exit_code == 0, same.output
    assert "5 packets: vm and jit agree" in same.stdout

    fake_engines["flip_jit_at"] = 3
    differ = invoke("replay", blocklist_obj, capture, "--target", "vm", "--compare", "jit")
    assert differ.exit_code == 1, differ.output
    byte = rule(frames[3])[1][5]
    assert f"packet 3: data_out byte 5: vm 0x{byte:02x}, jit 0x{byte ^ 1:02x}" in differ.stdout
    as_json = json.loads(invoke("replay", blocklist_obj, capture, "--target", "vm", "--compare", "jit", "--json").stdout)
    assert as_json["mismatches"] == [{"index": 3, "field": "data_out byte 5", "vm": f"0x{byte:02x}", "jit": f"0x{byte ^ 1:02x}"}]


# -- real engines ---------------------------------------------------------------------


def require_engines(*names: str) -> None:
    """Skip (saying why) unless every named engine can run here."""
    try:
        from xdptool.runtime.engines import target_available
    except ImportError as exc:
        pytest.skip(f"the runtime's engine registry is not available: {exc}")
    for name in names:
        ok, why = target_available(name)
        if not ok:
            pytest.skip(f"{name}: {why}")


@functools.lru_cache(maxsize=1)
def blocklist_traffic() -> tuple[bytes, ...]:
    from scapy.all import IP, TCP, UDP, Ether, IPv6

    frames = []
    link = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")  # explicit: no ARP/ND lookups
    for ip in (IP(src="10.1.2.1", dst="10.1.2.3"), IPv6(src="2001:db8::1", dst="2001:db8::7")):
        for l4 in (UDP, TCP):
            for port in (53, 80, 443, 8080):
                frames.append(bytes(link / ip / l4(sport=1234, dport=port) / b"data"))
    return (*frames, b"\x01" * 10, ether_frame(b"\x45"))


BLOCK_53_UDP_80_TCP = {"blocklist": [{"key": "0035", "value": "01"}, {"key": "0050", "value": "02"}]}


@needs_clang
def test_compare_vm_and_jit_on_the_blocklist_agree(tmp_path, blocklist_obj):
    require_engines("vm", "jit")
    capture = tmp_path / "traffic.pcap"
    capture.write_bytes(classic(list(blocklist_traffic()) * 3))
    maps = tmp_path / "maps.json"
    maps.write_text(json.dumps(BLOCK_53_UDP_80_TCP))
    result = invoke("replay", blocklist_obj, capture, "--maps-in", maps, "--target", "vm", "--compare", "jit")
    assert result.exit_code == 0, result.output


@needs_clang
@pytest.mark.parametrize("target", ["vm", "jit"])
def test_replay_blocklist_verdicts_and_drop_counters(tmp_path, blocklist_obj, target):
    """Expectations from the program's documented rule: UDP 53 and TCP 80 are dropped and counted."""
    require_engines(target)
    frames = blocklist_traffic()
    capture = tmp_path / "traffic.pcap"
    capture.write_bytes(classic(frames))
    maps = tmp_path / "maps.json"
    maps.write_text(json.dumps(BLOCK_53_UDP_80_TCP))
    result = invoke("replay", blocklist_obj, capture, "--maps-in", maps, "--target", target, "--jsonl", "--run-runts")
    assert result.exit_code == 0, result.output
    *packets, document = [json.loads(line) for line in result.stdout.splitlines()]
    verdicts = [p["verdict"] for p in packets]
    # per IP version: UDP 53, 80, 443, 8080 then TCP 53, 80, 443, 8080; then a runt and a cut IPv4 header
    per_ip = ["XDP_DROP", "XDP_PASS", "XDP_PASS", "XDP_PASS", "XDP_PASS", "XDP_DROP", "XDP_PASS", "XDP_PASS"]
    assert verdicts == per_ip * 2 + ["XDP_DROP", "XDP_DROP"], target
    drops = {e["key"]: int.from_bytes(bytes.fromhex(e["value"]), "little") for e in document["maps"]["drops"]}
    assert drops == {"0035": 2, "0050": 2}, target
    assert document["summary"]["short_packets"]["count"] == 1


@needs_clang
@pytest.mark.kernel
def test_kernel_replay_agrees_with_jit(tmp_path, blocklist_obj):
    require_engines("kernel", "jit")
    capture = tmp_path / "traffic.pcap"
    capture.write_bytes(classic(list(blocklist_traffic()[:-2]) * 2))  # the kernel refuses packets under 14 bytes
    maps = tmp_path / "maps.json"
    maps.write_text(json.dumps(BLOCK_53_UDP_80_TCP))
    result = invoke("replay", blocklist_obj, capture, "--maps-in", maps, "--target", "kernel", "--compare", "jit")
    assert result.exit_code == 0, result.output


# Programs whose results legitimately differ between engines, and why.
CLOCK_DEPENDENT = {"syn_ratelimit": "keeps bpf_ktime_get_ns() in its map: the vm's clock is deterministic, the kernel's is not"}


def bundled_captures():
    return sorted((ROOT / "programs").glob("*.pcap"))


def replay_compare_all(built_examples, other: str, skip: dict[str, str]) -> dict[str, dict]:
    reports = {}
    for pcap in bundled_captures():
        if pcap.stem in skip:
            continue
        args = ["replay", built_examples[pcap.stem], pcap, "--target", "vm", "--compare", other, "--json"]
        maps = pcap.with_suffix(".maps.json")
        if maps.exists():
            args += ["--maps-in", maps]
        result = invoke(*args)
        assert result.exit_code in (0, 1), (pcap.stem, result.output)
        reports[pcap.stem] = json.loads(result.stdout)
    return reports


def assert_all_identical(reports: dict[str, dict]) -> None:
    assert reports, "no bundled captures found"
    differing = {name: report["mismatches"][:3] for name, report in reports.items() if not report["identical"]}
    assert differing == {}


@pytest.mark.kernel
def test_every_bundled_capture_replays_alike_on_vm_and_kernel(built_examples):
    require_engines("vm", "kernel")
    assert_all_identical(replay_compare_all(built_examples, "kernel", CLOCK_DEPENDENT))


def test_every_bundled_capture_replays_alike_on_vm_and_jit(built_examples):
    require_engines("vm", "jit")
    assert_all_identical(replay_compare_all(built_examples, "jit", {}))


@needs_clang
def test_trace_n_traces_the_first_packets_on_the_vm(tmp_path, blocklist_obj):
    require_engines("vm", "jit")
    capture = tmp_path / "traffic.pcap"
    capture.write_bytes(classic(list(blocklist_traffic()[:4])))
    result = invoke("replay", blocklist_obj, capture, "--trace", 2, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["packets"] == 4  # stdout stays one JSON document
    headers = [line for line in result.stderr.splitlines() if line.startswith("packet ")]
    assert [h.split(" (")[0] for h in headers] == ["packet 0", "packet 1"]
    assert sum(1 for line in result.stderr.splitlines() if line.strip().endswith("exit")) == 2


def test_plain_progress_lines_without_a_terminal(capsys, monkeypatch):
    from xdptool.cli import replay as replay_cli

    monkeypatch.setenv("NO_COLOR", "1")
    with replay_cli.progress_reporter(100 << 20) as progress:  # a 100 MiB capture, packet count unknown
        for done in range(0, 1_000_001, 65536):
            progress(min(done, 1_000_000), min(done, 1_000_000) / 1_000_000)
        progress(1_000_000, 1.0)
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "replayed 1000000 packets (100% of the capture)" and lines.count(lines[-1]) == 1
    assert 5 <= len(lines) <= 11  # about every tenth, not once per chunk
    with replay_cli.progress_reporter(100_000) as progress:
        assert progress is None  # short replays print nothing


@needs_clang
def test_a_large_mapped_capture_replays_alike_on_vm_and_jit(tmp_path, blocklist_obj):
    """Files over 1 MiB are mapped, not read: the engines must see the same packets."""
    require_engines("vm", "jit")
    from xdptool.replay import scan
    from xdptool.replay.pcap import read_capture

    frames = list(blocklist_traffic())
    capture = tmp_path / "large.pcap"
    capture.write_bytes(classic(frames * (scan.NATIVE_MIN_BYTES // sum(map(len, frames)) + 1)))
    assert not isinstance(read_capture(capture).buffer, bytes)
    maps = tmp_path / "maps.json"
    maps.write_text(json.dumps(BLOCK_53_UDP_80_TCP))
    result = invoke("replay", blocklist_obj, capture, "--maps-in", maps, "--target", "jit", "--compare", "vm")
    assert result.exit_code == 0, result.output


def test_without_prog_an_unreadable_state_dir_is_named_not_misread(tmp_path, monkeypatch):
    """A state dir exists but nothing here can load an offloaded image: say so, exit 2."""
    import importlib.util

    if importlib.util.find_spec("xdptool.nfp.state") is not None:
        pytest.skip("the NFP state module exists; its own tests cover loading offloaded images")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".xdptool").mkdir()
    (tmp_path / "good.pcap").write_bytes(classic([ether_frame()]))
    assert "is not implemented in this version; give the object" in one_line_error(invoke("replay", "good.pcap"))


@needs_clang
def test_the_text_report_names_a_faults_instruction_and_c_line(tmp_path, blocklist_obj, fake_engines):
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic(frames_with_tails([2, FAULT_BYTE, 1])))
    result = invoke("replay", blocklist_obj, capture)
    assert result.exit_code == 0, result.output
    assert "fault: packet 1 at insn 7 (fake.c:42): invalid read" in result.stdout


# What a warm `xdptool replay --json` must not import: LLVM's binding (the jit's code is a
# cached shared object), rich (nothing is printed through it), pyelftools (the loader reads
# ELF itself), scapy, the toolchain's subprocess machinery, the code generator's helper
# and control-flow emitters.
NOT_ON_THE_REPLAY_PATH = ("llvmlite.binding", "rich", "elftools", "scapy", "xdptool.toolchain",
                          "xdptool.runtime.jit.natives", "xdptool.runtime.jit.control", "xdptool.nfp.datapath",
                          "xdptool.nfp.cmsg")


def test_a_warm_replay_process_imports_only_what_it_runs(tmp_path, blocklist_obj):
    """Start-up is most of a replay of a million packets (issue 15): a second process with
    the compile cache warm loads the jit's code without LLVM and prints JSON without rich."""
    import os
    import subprocess
    import sys

    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic([ether_frame(bytes([i]) * 40) for i in range(64)]))
    script = ("import atexit, runpy, sys\n"  # atexit: a replay's process leaves without Python's teardown
              f"sys.argv = ['xdptool', 'replay', {str(blocklist_obj)!r}, {str(capture)!r}, '--json']\n"
              f"atexit.register(lambda: print(sorted(m for m in {NOT_ON_THE_REPLAY_PATH!r} if m in sys.modules), "
              "file=sys.stderr))\n"
              "runpy.run_module('xdptool.cli.main', run_name='__main__')\n")
    env = {**os.environ, "XDPTOOL_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
            for _ in range(2)]  # the first compiles and records the LLVM facts; the second is warm
    assert json.loads(runs[1].stdout)["summary"]["packets"] == 64
    assert runs[1].stderr.strip().splitlines()[-1] == "[]"


def test_replay_keeps_freed_chunk_memory_in_the_heap():
    """keep_freed_memory (glibc mallopt): a block the size of a chunk's arrays, written and
    freed, stays in the process for the next chunk instead of going back to the kernel (and
    being faulted in and zeroed again); without it the same block is returned at once."""
    import subprocess
    import sys

    probe = """
import sys
from xdptool.cli.replay import keep_freed_memory
if sys.argv[1] == "kept":
    keep_freed_memory()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
block = b"x" * (4 << 20)
held = rss()
del block
print(held - rss())
"""
    returned = {mode: int(subprocess.run([sys.executable, "-c", probe, mode], capture_output=True, text=True,
                                         check=True).stdout) for mode in ("kept", "default")}
    assert returned["default"] >= 3 << 20 and returned["kept"] < 1 << 20, returned


PRINTS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } seen SEC(".maps");

SEC("xdp") int prints(struct xdp_md *ctx)
{
	__u8 *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 word;

	if ((void *)(p + 14) > (void *)end)
		return XDP_PASS;
	if (p[0] & 1)
		bpf_printk("odd %x", p[0]);
	if (p[0] & 2)
		bpf_printk("mac %x:%x:%x:%x", p[0], p[1], p[2], p[3]);
	if (p[0] & 4) {
		__builtin_memcpy(&word, p, 4);
		bpf_ringbuf_output(&seen, &word, sizeof(word), 0);
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("args", [["--target", "vm"], ["--target", "jit"], ["--target", "jit", "--queues", "2"],
                                  ["--target", "vm", "--queues", "2"]])
def test_jsonl_records_carry_the_packets_trace_lines_and_events(tmp_path, args):
    """bpf_printk's lines (trace_printk, and trace_vprintk past 3 arguments) and ring buffer
    records in each packet's --jsonl record, in capture order, on every engine and with queues."""
    from test_jit_maps import compiled

    obj = compiled(tmp_path, "prints", PRINTS)
    frames = [bytes([first, 0xaa, 0xbb, 0xcc]) + bytes(56) for first in range(8)]
    capture = tmp_path / "prints.pcap"
    capture.write_bytes(classic(frames))
    result = invoke("replay", obj.path, capture, "--jsonl", *args)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()][:-1]
    assert [r["index"] for r in records] == list(range(8))
    want = [[f"odd {first:x}"] * (first & 1) + [f"mac {first:x}:aa:bb:cc"] * (first >> 1 & 1) for first in range(8)]
    assert [r.get("trace_printk", []) for r in records] == want
    events = [[{"type": "ringbuf", "map": "seen", "data": f"{first:02x}aabbcc"}] * (first >> 2 & 1) for first in range(8)]
    assert [r.get("events", []) for r in records] == events
