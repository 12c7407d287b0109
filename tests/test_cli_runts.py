"""Kernel-faithful defaults: frames under 14 bytes are refused and counted, as
BPF_PROG_TEST_RUN refuses them (EINVAL) and a NIC drops runts, so a replay's map
state is what a kernel would show; `--run-runts` runs them anyway."""

from __future__ import annotations

import json

from click.testing import CliRunner

from conftest import PROGRAMS
from test_pcap_builders import classic
from xdptool.cli.main import cli

# proto_counters.c counts every frame by class; a runt is class 258 ("malformed"), key 02010000
RUNT_CLASS = "02010000"
FRAME = bytes.fromhex("020000000002" "020000000001" "0800"  # Ethernet, then IPv4/UDP 10.0.0.1:5353 -> 10.0.0.2:53
                      "4500001c00010000401166ce0a0000010a000002" "14e900350008d6bd")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def replay(tmp_path, built_examples, *args):
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic([FRAME, FRAME[:13], b"\x02" * 5, FRAME]))
    result = invoke("replay", built_examples["proto_counters"], capture, "--target", "vm", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def counted(document) -> dict:
    return {e["key"]: e["value"] for e in document["maps"]["packets"]}


def test_runts_are_refused_counted_and_leave_the_maps_alone(tmp_path, built_examples):
    document = replay(tmp_path, built_examples)
    summary = document["summary"]
    assert summary["packets"] == 2 and sum(summary["verdicts"].values()) == 2
    assert summary["short_packets"] == {"count": 2, "first": [1, 2], "not_run": 2, "note": summary["short_packets"]["note"]}
    assert counted(document)[RUNT_CLASS] == bytes(8).hex()  # not counted: the kernel never sees them
    text = invoke("replay", built_examples["proto_counters"], tmp_path / "in.pcap", "--target", "vm").stderr
    assert "2 frames under 14 bytes refused (records 1, 2)" in text and "--run-runts runs them" in text


def test_run_runts_runs_them(tmp_path, built_examples):
    document = replay(tmp_path, built_examples, "--run-runts")
    assert document["summary"]["packets"] == 4 and document["summary"]["short_packets"]["not_run"] == 0
    assert counted(document)[RUNT_CLASS] == (2).to_bytes(8, "little").hex()
    text = invoke("replay", built_examples["proto_counters"], tmp_path / "in.pcap", "--target", "vm", "--run-runts").stderr
    assert "2 frames under 14 bytes run (records 1, 2, --run-runts)" in text


def test_the_text_summary_has_a_refused_row(tmp_path, built_examples):
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic([FRAME, b"\x01" * 9]))
    result = invoke("replay", built_examples["proto_counters"], capture, "--target", "vm")
    rows = dict(line.rsplit(None, 1) for line in result.stdout.splitlines()[2:4])
    assert rows == {"XDP_PASS": "1", "refused (runt)": "1"}


def test_compare_leaves_runts_out_on_both_sides_by_default(tmp_path, built_examples):
    capture = tmp_path / "in.pcap"
    capture.write_bytes(classic([FRAME, b"\x01" * 9]))
    args = ("replay", built_examples["proto_counters"], capture, "--target", "vm", "--compare", "jit", "--json")
    assert json.loads(invoke(*args).stdout)["not_run"] == 1
    assert json.loads(invoke(*args, "--run-runts").stdout)["not_run"] == 0


def test_run_refuses_a_runt_unless_asked(built_examples):
    result = invoke("run", built_examples["drop_all"], "--packet", "02" * 13, "--target", "vm")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: the packet is 13 bytes") and "--run-runts" in result.stderr
    ran = invoke("run", built_examples["drop_all"], "--packet", "02" * 13, "--target", "vm", "--run-runts", "--json")
    assert json.loads(ran.stdout)["verdict"] == "XDP_DROP"


def test_the_bundled_capture_with_a_runt(tmp_path, built_examples):
    """programs/port_blocklist.pcap has one runt (record 26): refused by default."""
    result = invoke("replay", built_examples["port_blocklist"], PROGRAMS / "port_blocklist.pcap", "--target", "vm",
                    "--maps-in", PROGRAMS / "port_blocklist.maps.json", "--json")
    assert json.loads(result.stdout)["summary"]["short_packets"]["first"] == [26]
    assert json.loads(result.stdout)["summary"]["packets"] == 39
