"""The card's queue selection is visible per packet: a program that writes
ctx->rx_queue_index (allowed for offloaded programs only: programmable RSS) shows the
queue it chose in `replay --jsonl` records and a per-queue count in the summary.

The expected queue of each packet is computed here from the C source's formula
(tests/nfp_samples/rss_like.c), not by xdptool.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli

SAMPLE = Path(__file__).resolve().parent / "nfp_samples" / "rss_like.c"
pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
ADDRESSES = [("10.0.0.1", "10.0.0.2"), ("192.168.1.7", "10.9.8.7"), ("172.16.5.4", "8.8.8.8"),
             ("1.2.3.4", "5.6.7.8"), ("10.200.3.1", "10.0.0.99"), ("100.64.0.1", "100.64.0.2")]


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.stderr if result.stderr_bytes else "", result.exception)
    return result


def expected_queue(saddr: str, daddr: str) -> int:
    """rss_like.c: key = (saddr ^ daddr ^ (saddr >> 16)) & 127 on the __be32 fields read as
    host-order u32 (little-endian), queue = indirection[key], which the test fills with key % 4."""
    import socket

    s, d = (int.from_bytes(socket.inet_aton(a), "little") for a in (saddr, daddr))
    return ((s ^ d ^ (s >> 16)) & 127) % 4


def test_replay_on_the_card_shows_the_queue_each_packet_selected(tmp_path):
    from scapy.all import ARP, IP, UDP, Ether, wrpcap

    obj, state, capture = tmp_path / "rss.o", tmp_path / "card", tmp_path / "rss.pcap"
    invoke("build", SAMPLE, "-o", obj)
    invoke("offload", obj, "--target", "nfp-emu", "--state", state)
    invoke("maps", "set", "--state", state, "control", "00000000", "01000000")
    for key in range(128):
        invoke("maps", "set", "--state", state, "indirection", key.to_bytes(4, "little").hex(),
               (key % 4).to_bytes(4, "little").hex())
    packets = [Ether() / IP(src=s, dst=d) / UDP(sport=1000 + i, dport=53) for i, (s, d) in enumerate(ADDRESSES)]
    wrpcap(str(capture), [*packets, Ether() / ARP()])

    lines = invoke("replay", capture, "--state", state, "--jsonl").stdout.splitlines()
    records = [json.loads(line) for line in lines if line.startswith('{"index"')]
    assert [r.get("rx_queue") for r in records] == [expected_queue(s, d) for s, d in ADDRESSES] + [None]

    summary = json.loads(invoke("replay", capture, "--state", state, "--json").stdout)["summary"]
    want: dict[str, int] = {}
    for s, d in ADDRESSES:
        want[str(expected_queue(s, d))] = want.get(str(expected_queue(s, d)), 0) + 1
    assert summary["selected_queues"] == dict(sorted(want.items()))
    text = invoke("replay", capture, "--state", state).stdout
    assert "queues selected by the program: " + ", ".join(f"queue {q}: {n}" for q, n in sorted(want.items())) in text
