"""`xdptool run`: one packet, by hex or scapy expression, through CliRunner."""

from __future__ import annotations

import json

import pytest

from test_pcap_builders import ether_frame
from test_replay_cli import BLOCK_53_UDP_80_TCP, blocklist_obj, invoke, require_engines, needs_clang, one_line_error  # noqa: F401
from test_replay_driver import FAULT_BYTE, CounterStore, FakeEngine, rule

pytestmark = needs_clang


@pytest.fixture
def fake_engine(monkeypatch):
    def make(self, name=None):
        store = CounterStore()
        return FakeEngine(store), store

    monkeypatch.setattr("xdptool.runtime.target.Target.make", make)


def test_hex_and_scapy_give_the_same_packet(blocklist_obj, fake_engine):
    from scapy.all import IP, UDP, Ether

    frame = bytes(Ether(dst="02:00:00:00:00:01") / IP(dst="10.0.0.1") / UDP(dport=53) / b"\x03")
    by_hex = json.loads(invoke("run", blocklist_obj, "--packet", frame.hex(":"), "--json").stdout)
    by_scapy = json.loads(invoke("run", blocklist_obj, "--scapy", "Ether(dst='02:00:00:00:00:01')/IP(dst='10.0.0.1')/UDP(dport=53)/b'\\x03'", "--json").stdout)
    assert by_hex == by_scapy
    retval, output, _ = rule(frame)
    assert (by_hex["retval"], by_hex["verdict"]) == (retval, "XDP_TX")
    assert by_hex["data_in"] == frame.hex() and by_hex["data_out"] == output.hex()
    assert by_hex["changed_bytes"] == [0]  # the TX rule flips byte 0
    assert by_hex["map_changes"] == {"hits": {"added": 1, "changed": 0, "removed": 0, "keys": {"added": ["03"]}}}


def test_human_output_shows_verdict_and_both_dissections(blocklist_obj, fake_engine):
    frame = ether_frame(b"\x45" + b"\0" * 18 + b"\x03")
    result = invoke("run", blocklist_obj, "--packet", frame.hex())
    assert result.exit_code == 0, result.output
    assert "XDP_TX (retval 3)" in result.stdout
    assert result.stdout.count("###[ Ethernet ]###") == 1  # the input; the output as field changes
    assert "1 bytes changed, highlighted" in result.stdout
    assert "Ethernet.dst: '02:02:02:02:02:02' -> 'fd:02:02:02:02:02'" in result.stdout


def test_a_fault_is_shown_and_exits_1(blocklist_obj, fake_engine):
    result = invoke("run", blocklist_obj, "--packet", ether_frame(bytes([FAULT_BYTE])).hex())
    assert result.exit_code == 1
    assert "XDP_ABORTED" in result.stdout and "insn 7 at fake.c:42: invalid read" in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "exactly one of --packet HEX or --scapy EXPR"),
        (["--packet", "00", "--scapy", "Ether()"], "exactly one of --packet HEX or --scapy EXPR"),
        (["--packet", "zz11"], "--packet: not hex bytes"),
        (["--scapy", "Ether()/Nope()"], "bad packet expression 'Ether()/Nope()': name 'Nope' is not a scapy layer"),
        (["--scapy", "__import__('os').system('true')"], "only scapy layers can be called"),
        (["--scapy", "Ether(("], "bad packet expression"),
    ],
)
def test_bad_packet_arguments_exit_2_in_one_line(blocklist_obj, fake_engine, args, message):
    assert message in one_line_error(invoke("run", blocklist_obj, *args))


def test_missing_object_exits_2(tmp_path):
    assert "nope.o: no such file" in one_line_error(invoke("run", tmp_path / "nope.o", "--packet", "00" * 14))


@pytest.mark.parametrize("target", ["vm", "jit"])
def test_blocklist_drops_udp_53_on_real_engines(tmp_path, blocklist_obj, target):
    require_engines(target)
    maps = tmp_path / "maps.json"
    maps.write_text(json.dumps(BLOCK_53_UDP_80_TCP))
    common = ["--maps-in", maps, "--target", target, "--json"]
    dropped = json.loads(invoke("run", blocklist_obj, "--scapy", "Ether(dst='02:00:00:00:00:02')/IP()/UDP(dport=53)", *common).stdout)
    passed = json.loads(invoke("run", blocklist_obj, "--scapy", "Ether(dst='02:00:00:00:00:02')/IP()/TCP(dport=53)", *common).stdout)
    assert (dropped["verdict"], passed["verdict"]) == ("XDP_DROP", "XDP_PASS")
    assert dropped["map_changes"]["drops"]["added"] == 1 and dropped["data_out"] == dropped["data_in"]


def test_trace_lists_executed_instructions(tmp_path, blocklist_obj):
    require_engines("vm")
    result = invoke("run", blocklist_obj, "--scapy", "Ether(dst='02:00:00:00:00:02')/IP()/UDP(dport=53)", "--target", "vm", "--trace", "--json")
    assert result.exit_code == 0, result.output
    trace = json.loads(result.stdout)["trace"]
    insns = [line for line in trace if not line.startswith(";")]  # the others are C lines
    assert insns and insns[0].split(":")[0].strip() == "0"
    assert any("exit" in line for line in trace[-2:])
