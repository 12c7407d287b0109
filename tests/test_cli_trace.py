"""`--trace` that explains: helper and map names, the C line, branch outcomes, and
pointers named by what they point into (`r2=pkt+14`), never the interpreter's tagged
addresses (0x3800001fc)."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from conftest import PROGRAMS
from xdptool.cli.main import cli

UDP_53 = "Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP()/UDP(dport=53)"
TAGGED_ADDRESS = re.compile(r"=0x[0-9a-f]{9,10}\b")  # a small region id in bits 32 and up, an offset below


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def trace(built_examples, name="port_blocklist", *args) -> list[str]:
    result = invoke("run", built_examples[name], "--target", "vm", "--trace", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["trace"]


def line_at(lines: list[str], pc: int) -> str:
    return next(line for line in lines if re.match(rf"\s*{pc}: ", line))


def test_port_blocklist_trace_reads_like_the_source(built_examples):
    lines = trace(built_examples, "port_blocklist", "--scapy", UDP_53, "--maps-in", PROGRAMS / "port_blocklist.maps.json")
    # ctx->data_end, ctx->data, the bounds check of the Ethernet header (parsing.h)
    assert line_at(lines, 4).endswith("r2=pkt_end") and line_at(lines, 5).endswith("r3=pkt")
    assert line_at(lines, 7).endswith("r1=pkt+14")
    assert line_at(lines, 8).startswith("    8: if r1 > r2 goto +134") and line_at(lines, 8).endswith("not taken")
    assert "; if ((void *)(e + 1) > c->end)  [parsing.h:73]" in lines
    # not IPv4 in a VLAN: the jump over the VLAN parsing is taken
    assert line_at(lines, 14).endswith("taken -> 27")
    # the blocklist lookup: map and helper by name, the key on the stack, the value pointer
    assert line_at(lines, 105).endswith("r2=fp-28")
    assert line_at(lines, 106).startswith("  106: r1 = map[blocklist] ll") and line_at(lines, 106).endswith("r1=map[blocklist]")
    assert line_at(lines, 108).startswith("  108: call bpf_map_lookup_elem#1")
    assert line_at(lines, 108).endswith("r0=map_value[blocklist]")
    assert "; mask = bpf_map_lookup_elem(&blocklist, &port);  [port_blocklist.c:100]" in lines
    assert not [line for line in lines if TAGGED_ADDRESS.search(line)]


def test_a_short_frame_takes_the_early_exit(built_examples):
    lines = trace(built_examples, "port_blocklist", "--packet", "02" * 13, "--run-runts")
    assert line_at(lines, 8).endswith("taken -> 143")
    assert lines[-1].strip().startswith("143: exit")


def test_programs_that_move_the_packet_name_their_pointers(built_examples):
    """encap grows the head (adjust_head): pointers after it are named against the new data."""
    packet = "Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='10.0.0.1', dst='10.0.0.2')/UDP()"
    lines = trace(built_examples, "encap", "--scapy", packet, "--maps-in", PROGRAMS / "encap.maps.json")
    assert "call bpf_xdp_adjust_head#44" in "\n".join(lines)
    after = lines[next(i for i, line in enumerate(lines) if "bpf_xdp_adjust_head" in line):]
    assert any(line.endswith("=pkt") or "=pkt " in line for line in after)
    assert not [line for line in lines if TAGGED_ADDRESS.search(line)]


def test_replay_trace_goes_to_stderr_with_the_same_lines(built_examples):
    result = invoke("replay", built_examples["port_blocklist"], PROGRAMS / "port_blocklist.pcap", "--trace", 1,
                    "--target", "vm")
    assert result.exit_code == 0, result.output
    assert "call bpf_map_lookup_elem#1" in result.stderr or "r2=pkt_end" in result.stderr
    assert not TAGGED_ADDRESS.search(result.stderr)
