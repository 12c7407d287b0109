"""`replay --pcapng FILE`: one pcapng with every packet before and after the program, as
xdpdump writes it, read back three ways: a block walker written here from the pcapng
specification (draft-ietf-opsawg-pcapng), scapy's PcapNgReader (an independent reader),
and xdptool's own; with tshark too where it is installed (it is not by `make setup`:
libwireshark alone is 110 MB)."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess

import pytest
from click.testing import CliRunner

from conftest import PROGRAMS
from xdptool.cli.main import cli

ENTRY, EXIT = 0, 1


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def walk(data: bytes) -> list[tuple[int, bytes]]:
    """(block type, body) of every block, checking what the spec requires of each: 32-bit
    alignment, the leading and trailing lengths equal, a little-endian SHB first."""
    assert data[:4] == b"\x0a\x0d\x0d\x0a" and data[8:12] == struct.pack("<I", 0x1A2B3C4D)
    blocks, pos = [], 0
    while pos < len(data):
        kind, length = struct.unpack_from("<II", data, pos)
        assert length % 4 == 0 and length >= 12 and pos + length <= len(data)
        assert struct.unpack_from("<I", data, pos + length - 4)[0] == length
        blocks.append((kind, data[pos + 8: pos + length - 4]))
        pos += length
    return blocks


def parse_options(raw: bytes) -> dict[int, list[bytes]]:
    """code -> values; the list must end with opt_endofopt and every value be padded."""
    found, pos = {}, 0
    while True:
        code, length = struct.unpack_from("<HH", raw, pos)
        if code == 0:
            assert length == 0 and pos + 4 == len(raw), "opt_endofopt ends the block's options"
            return found
        found.setdefault(code, []).append(raw[pos + 4: pos + 4 + length])
        pos += 4 + length + (-length % 4)


def packets(data: bytes) -> tuple[list[dict], list[dict]]:
    """(interfaces, enhanced packets) of one section."""
    blocks = walk(data)
    assert blocks[0][0] == 0x0A0D0D0A
    major, minor, section_length = struct.unpack_from("<HHq", blocks[0][1], 4)
    assert (major, minor, section_length) == (1, 0, -1)
    assert parse_options(blocks[0][1][16:])[4][0].startswith(b"xdptool ")  # shb_userappl
    interfaces, epbs = [], []
    for kind, body in blocks[1:]:
        if kind == 1:
            linktype, _, snaplen = struct.unpack_from("<HHI", body)
            opts = parse_options(body[8:])
            interfaces.append({"linktype": linktype, "name": opts[2][0].decode(), "tsresol": opts[9][0]})
        elif kind == 6:
            iface, high, low, caplen, length = struct.unpack_from("<IIIII", body)
            assert iface < len(interfaces) and caplen <= length
            data_end = 20 + caplen + (-caplen % 4)
            opts = parse_options(body[data_end:])
            epbs.append({"iface": iface, "ts": high << 32 | low, "data": body[20:20 + caplen], "len": length,
                         "comment": opts[1][0].decode(), "flags": struct.unpack("<I", opts[2][0])[0] if 2 in opts else None})
        else:
            pytest.fail(f"unexpected block type {kind:#x}")
    return interfaces, epbs


@pytest.fixture
def blocklist_replay(tmp_path, built_examples):
    out = tmp_path / "capture.pcapng"
    result = invoke("replay", built_examples["port_blocklist"], PROGRAMS / "port_blocklist.pcap", "--target", "vm",
                    "--maps-in", PROGRAMS / "port_blocklist.maps.json", "--pcapng", out, "--out-dir", tmp_path / "out",
                    "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)["summary"], tmp_path / "out"


def test_each_packet_before_and_after_with_its_verdict(blocklist_replay):
    out, summary, _ = blocklist_replay
    interfaces, epbs = packets(out.read_bytes())
    assert [i["name"] for i in interfaces] == ["xdp_port_blocklist@entry", "xdp_port_blocklist@exit"]
    assert all(i["linktype"] == 1 and i["tsresol"] == b"\x09" for i in interfaces)
    assert len(epbs) == 2 * summary["packets"] and summary["outputs"][str(out)] == summary["packets"]
    assert [e["iface"] for e in epbs] == [ENTRY, EXIT] * summary["packets"]
    from scapy.utils import RawPcapReader

    frames = [data for data, _meta in RawPcapReader(str(PROGRAMS / "port_blocklist.pcap"))]
    kept = [i for i, f in enumerate(frames) if len(f) >= 14]  # the runt (record 26) is refused
    verdicts = {}
    for n, index in enumerate(kept):
        entry, exit_ = epbs[2 * n], epbs[2 * n + 1]
        assert entry["data"] == frames[index] and entry["comment"] == exit_["comment"] and entry["ts"] == exit_["ts"]
        fields = dict(part.split(" ", 1) for part in entry["comment"].split("; "))
        assert fields["packet"] == str(index) and fields["program"] == "xdp_port_blocklist" and fields["queue"] == "0"
        verdicts[fields["verdict"]] = verdicts.get(fields["verdict"], 0) + 1
        assert entry["flags"] == 0b01 and exit_["flags"] == {"XDP_PASS": 0b01, "XDP_DROP": None}[fields["verdict"]]
    assert verdicts == {k: v for k, v in summary["verdicts"].items() if v}


def test_the_per_verdict_pcaps_stay_and_agree(blocklist_replay):
    out, _, out_dir = blocklist_replay
    from scapy.utils import RawPcapReader

    _, epbs = packets(out.read_bytes())
    exits = [(e["comment"].split("verdict ")[1].split(";")[0], e["data"]) for e in epbs if e["iface"] == EXIT]
    for verdict, name in (("XDP_PASS", "pass.pcap"), ("XDP_DROP", "drop.pcap")):
        assert [data for data, _ in RawPcapReader(str(out_dir / name))] == [d for v, d in exits if v == verdict]


def test_scapy_and_xdptool_read_it_back(blocklist_replay):
    out, summary, _ = blocklist_replay
    from scapy.utils import PcapNgReader

    read = list(PcapNgReader(str(out)))
    assert len(read) == 2 * summary["packets"]
    assert {p.sniffed_on for p in read} == {"xdp_port_blocklist@entry", "xdp_port_blocklist@exit"}
    assert all(b"verdict XDP_" in p.comment for p in read)
    from xdptool.replay.pcap import read_capture

    capture = read_capture(out)
    assert len(capture) == 2 * summary["packets"] and not capture.warnings


def test_redirect_targets_and_directions(tmp_path, built_examples):
    out = tmp_path / "r.pcapng"
    result = invoke("replay", built_examples["redirect_devmap"], PROGRAMS / "redirect_devmap.pcap", "--target", "vm",
                    "--maps-in", PROGRAMS / "redirect_devmap.maps.json", "--pcapng", out, "--rx-queue", 3)
    assert result.exit_code == 0, result.output
    _, epbs = packets(out.read_bytes())
    redirected = [e for e in epbs if "verdict XDP_REDIRECT" in e["comment"]]
    assert redirected and all("; queue 3; redirect map=tx_ports key=" in e["comment"] for e in redirected)
    assert {e["flags"] for e in redirected if e["iface"] == EXIT} == {0b10}  # outbound


def test_an_existing_file_of_another_kind_is_refused(tmp_path, built_examples):
    precious = tmp_path / "notes.txt"
    precious.write_text("mine")
    args = ("replay", built_examples["drop_all"], PROGRAMS / "drop_all.pcap", "--target", "vm", "--pcapng", precious)
    result = invoke(*args)
    assert result.exit_code == 2 and precious.read_text() == "mine" and "pcapng" in result.stderr
    assert invoke(*args, "--force").exit_code == 0 and precious.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert invoke(*args).exit_code == 0  # an earlier pcapng is replaced
    assert invoke(*args, "--compare", "jit").exit_code == 2


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed (apt-get install tshark)")
def test_tshark_reads_the_comments(blocklist_replay):
    out, summary, _ = blocklist_replay
    fields = subprocess.run(["tshark", "-r", str(out), "-T", "fields", "-e", "frame.interface_name", "-e", "frame.comment"],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(fields) == 2 * summary["packets"]
    assert fields[0].startswith("xdp_port_blocklist@entry\tpacket 0; program xdp_port_blocklist; verdict ")
