"""The card's datapath around the program (issue 14 item 4) and its map control messages.

Expected values come from outside xdptool: the RSS hashes from Netronome's own firmware
test suite (nic-firmware test/datapath/actions_rss_*_test.uc, packets from its
pkt_*_x88.uc files, key word 0xc0ffee), queues from a bit-by-bit CRC written here,
verdict counts from the jit engine on the same capture, perf events from the capture's
own bytes, and the control messages' layout from fw.h's struct sizes.
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.nfp import cmsg
from xdptool.platform import nfp_driver as drv
from xdptool.platform.rss import crc32_be, hash_input

HERE = Path(__file__).resolve().parent
PROGRAMS = HERE.parent / "programs"
SAMPLES = HERE / "nfp_samples"
needs_clang = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")


def invoke(*args, code: int = 0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def one_line_error(*args) -> str:
    result = invoke(*args, code=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.stderr
    return lines[0]


# -- RSS: the firmware's own test vectors ---------------------------------------------------------------
def _frame(words: str) -> bytes:
    """A packet from nic-firmware's `nfp-mem i32.ctm:0x80 ...` words; the frame starts at 0x88."""
    return bytes.fromhex(words.replace(" ", ""))[8:]


IPV4_UDP = _frame("00000000 00000000 00112233 44550000 00000000 08004500 002e0000 00004011 f96bc0a8 0001c0a8 "
                  "00020400 0035001a a3606865 6c6c6f20 63727565 6c20776f 726c640a")
IPV4_TCP = _frame("00000000 00000000 00888888 99999999 aaaaaaaa 08004500 00340000 00004006 f970c0a8 0001c0a8 "
                  "00020400 00500000 00000000 00005000 0000985c 00006865 6c6c6f20 776f726c 640a0000 00000000")
IPV6_UDP = _frame("00000000 00000000 00163ec4 23450000 0b000200 86dd6030 00000008 11fffe80 00000000 00000200 "
                  "0bfffe00 02003555 55556666 66667777 77778888 8888003f 003f0008 9b684dd3 e9a20000")
IPV6_TCP = _frame("00000000 00000000 00154d12 2cc60000 0b000300 86dd6030 00000014 06fffe80 00000000 00000200 "
                  "0bfffe00 03003555 55556666 66667777 77778888 88880000 00000000 00000000 00005000 00004aed "
                  "00006acf 14990000")
VLAN_IPV4_UDP = bytes.fromhex("00bbccddeeff00000000000081000 02a08004500002e0000000040 11f96bc0a80001c0a80002"
                              "04000035001aa360".replace(" ", ""))
FRAGMENT = IPV4_UDP[:20] + b"\x20\x00" + IPV4_UDP[22:]  # more fragments: L3 only


@pytest.mark.parametrize("packet, expected", [
    (IPV4_UDP, 0x8090A37D),  # actions_rss_ipv4_udp_test.uc
    (IPV4_TCP, 0x3BF00E81),  # actions_rss_ipv4_tcp_test.uc
    (IPV6_UDP, 0x5333E499),  # actions_rss_ipv6_udp_test.uc
    (IPV6_TCP, 0x619DF87B),  # actions_rss_ipv6_tcp_test.uc
    (VLAN_IPV4_UDP, 0x8090A37D),  # actions_rss_vlan_ipv4_udp_test.uc
    (FRAGMENT, 0xCE60AB57),  # actions_rss_ipv4_fragment_test.uc
])
def test_card_rss_hash_matches_the_firmware_test_suite(packet, expected):
    assert crc32_be(hash_input(packet), 0xC0FFEE) == expected


def bitwise_crc(data: bytes, remainder: int) -> int:
    """CRC-32, polynomial 0x04C11DB7, most significant bit first, no final XOR: by its definition."""
    for bit in range(len(data) * 8):
        top = remainder >> 31 ^ (data[bit // 8] >> (7 - bit % 8) & 1)
        remainder = (remainder << 1) & 0xFFFFFFFF
        if top:
            remainder ^= 0x04C11DB7
    return remainder


def expected_queue(packet: bytes, rings: int) -> int:
    """The host queue of a passed packet: key word le32(Microsoft key[0:4]), table entry i -> i % rings;
    the hashed fields (rss.rst: L3 addresses, TCP/UDP ports unless a fragment; one VLAN tag skipped)
    read here with struct, independently of hash_input."""
    key_word = 0xDA565A6D
    l3 = 18 if packet[12:14] in (b"\x81\x00", b"\x88\xa8") else 14
    ethertype = packet[l3 - 2:l3]
    if ethertype == b"\x08\x00" and len(packet) >= l3 + 20:
        fields, proto, l4 = packet[l3 + 12:l3 + 20], packet[l3 + 9], l3 + (packet[l3] & 15) * 4
        whole = not struct.unpack_from("!H", packet, l3 + 6)[0] & 0x3FFF
    elif ethertype == b"\x86\xdd" and len(packet) >= l3 + 40:
        fields, proto, l4, whole = packet[l3 + 8:l3 + 40], packet[l3 + 6], l3 + 40, True
    else:
        return 0
    if proto in (6, 17) and whole and len(packet) >= l4 + 4:
        fields += packet[l4:l4 + 4]
    return bitwise_crc(fields, key_word) % 128 % rings


# -- the datapath through a replay --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def card_objects(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    out = tmp_path_factory.mktemp("datapath")
    sources = {name: PROGRAMS / f"{name}.c" for name in ("port_blocklist", "mac_swap", "drop_all")}
    sources.update({name: SAMPLES / f"{name}.c" for name in ("xdpdump_like", "small_hash", "rss_like")})
    return {name: Path(toolchain.build(src, out / f"{name}.o").output) for name, src in sources.items()}


def _capture_packets(path: Path) -> list[bytes]:
    from xdptool.replay.pcap import read_capture

    capture = read_capture(str(path))
    return [capture.data(i) for i in range(len(capture))]


@needs_clang
def test_per_queue_counts_and_pcaps_follow_the_firmware_hash(card_objects, tmp_path):
    state, out = tmp_path / "card", tmp_path / "out"
    invoke("offload", card_objects["port_blocklist"], "--state", state)
    invoke("maps", "set", "--state", state, "blocklist", "0035", "01")
    summary = json.loads(invoke("replay", PROGRAMS / "port_blocklist.pcap", "--state", state, "--queues", "4",
                                "--out-dir", out, "--per-queue", "--json").stdout)["summary"]
    passed = _capture_packets(out / "pass.pcap")
    want = [0, 0, 0, 0]
    for packet in passed:
        want[expected_queue(packet, 4)] += 1
    card = summary["card"]
    assert [card["queues"][str(q)]["pkts"] for q in range(4)] == want and sum(want) == summary["verdicts"]["XDP_PASS"]
    for q in range(4):
        got = _capture_packets(out / f"rxq_{q}.pcap")
        assert [expected_queue(p, 4) for p in got] == [q] * want[q]
        assert card["ethtool"][f"rxq_{q}_pkts"] == want[q] and card["ethtool"][f"rxq_{q}_bytes"] == sum(map(len, got))
    stats = json.loads(invoke("maps", "stats", "--state", state, "--json").stdout)
    assert stats["bpf_pass_pkts"] == summary["verdicts"]["XDP_PASS"] and stats["p0_rx_undersize_pkts"] == 1


@needs_clang
@pytest.mark.parametrize("name, maps_in", [("port_blocklist", "port_blocklist.maps.json"), ("mac_swap", None),
                                           ("drop_all", None)])
def test_card_verdict_counters_match_the_jit(card_objects, name, maps_in):
    extra = ["--maps-in", PROGRAMS / maps_in] if maps_in else []
    capture = PROGRAMS / f"{name}.pcap"
    jit = json.loads(invoke("replay", card_objects[name], capture, *extra, "--json").stdout)["summary"]
    card = json.loads(invoke("replay", card_objects[name], capture, *extra, "--target", "nfp-emu",
                             "--json").stdout)["summary"]["card"]
    aborted = jit["verdicts"]["XDP_ABORTED"] + jit["verdicts"].get("XDP_REDIRECT", 0)  # the card cannot redirect
    expected = {"XDP_PASS": jit["verdicts"]["XDP_PASS"], "XDP_DROP": jit["verdicts"]["XDP_DROP"],
                "XDP_TX": jit["verdicts"]["XDP_TX"], "XDP_ABORTED": aborted}
    assert {v: row["packets"] for v, row in card["verdicts"].items()} == expected
    assert card["ethtool"]["bpf_app2_pkts"] == card["ports"]["0"]["tx_frames_transmitted_ok"] == expected["XDP_TX"]
    assert sum(row["pkts"] for row in card["queues"].values()) == expected["XDP_PASS"]


@needs_clang
def test_perf_events_reach_the_host_reader(card_objects, tmp_path):
    state, events = tmp_path / "card", tmp_path / "events.jsonl"
    invoke("offload", card_objects["xdpdump_like"], "--state", state)
    invoke("replay", PROGRAMS / "port_blocklist.pcap", "--state", state, "--events", events)
    packets = _capture_packets(PROGRAMS / "port_blocklist.pcap")
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    ipv4 = [i for i, p in enumerate(packets) if len(p) >= 34 and p[12:14] == b"\x08\x00"]
    assert [e["index"] for e in lines] == ipv4
    for event in lines:
        packet = packets[event["index"]]
        meta = packet[26:34] + struct.pack("<HH", len(packet), packet[23])  # struct meta of xdpdump_like.c
        assert (event["size"], event["pkt_size"], event["cpu"]) == (12, len(packet), 0)
        assert bytes.fromhex(event["bytes"]) == meta + packet


@needs_clang
def test_program_queue_selection_beyond_the_rings_falls_back_to_rss(card_objects, tmp_path):
    from scapy.all import IP, UDP, Ether, wrpcap

    state, capture = tmp_path / "card", tmp_path / "q.pcap"
    invoke("offload", card_objects["rss_like"], "--state", state)
    invoke("maps", "set", "--state", state, "control", "00000000", "01000000")
    for key in range(128):  # every packet selects queue 3
        invoke("maps", "set", "--state", state, "indirection", key.to_bytes(4, "little").hex(), "03000000")
    wrpcap(str(capture), [Ether() / IP(src=f"10.0.0.{i}", dst="10.0.1.1") / UDP(sport=1000 + i) for i in range(8)])
    within = json.loads(invoke("replay", capture, "--state", state, "--queues", "4", "--json").stdout)["summary"]
    assert within["card"]["queues"]["3"] == {"pkts": 8, "bytes": within["bytes_out"], "rss": 0, "program": 8,
                                             "selected_beyond": 0}
    beyond = json.loads(invoke("replay", capture, "--state", state, "--queues", "2", "--json").stdout)["summary"]
    packets = _capture_packets(capture)
    want = [sum(expected_queue(p, 2) == q for p in packets) for q in range(2)]
    assert [beyond["card"]["queues"][str(q)]["selected_beyond"] for q in range(2)] == want


def _random_frames(seed: int, count: int) -> list[bytes]:
    """Frames RSS treats differently: IPv4 TCP/UDP/other (some fragments, IHL 6), IPv6, one VLAN tag,
    ARP, truncated headers, runts."""
    import random

    rng = random.Random(seed)
    frames = []
    for _ in range(count):
        vlan = b"\x81\x00\x00\x05" if rng.random() < 0.2 else b""
        kind = rng.random()
        if kind < 0.55:
            ihl = rng.choice([5, 5, 6])
            proto = rng.choice([6, 17, 17, 1])
            frag = rng.choice([0, 0, 0x2000, 0x0010])
            header = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 0, 0, frag, 64, proto, 0, rng.randbytes(4),
                                 rng.randbytes(4)) + bytes(4 * (ihl - 5))
            frame = vlan + b"\x08\x00" + header + rng.randbytes(rng.choice([2, 8, 20]))
        elif kind < 0.8:
            frame = vlan + b"\x86\xdd" + struct.pack("!IHBB16s16s", 0x60000000, 8, rng.choice([6, 17, 58]), 64,
                                                      rng.randbytes(16), rng.randbytes(16)) + rng.randbytes(8)
        else:
            frame = vlan + b"\x08\x06" + rng.randbytes(rng.randrange(0, 30))
        frames.append(rng.randbytes(12) + frame[:rng.choice([len(frame)] * 5 + [20, 30])])
    return frames


@pytest.mark.parametrize("rings", [1, 3, 4, 128])
def test_native_host_queues_are_the_firmware_hash_and_the_programs_selection(rings):
    """Datapath.deliver_packed (one native pass) against the bit-by-bit CRC and the selection rule:
    PASS packets only (faults, other verdicts and codes above XDP_TX stay on the card), changed and
    unchanged packets, selections within and past the rings."""
    from array import array

    from xdptool.nfp.datapath import NOT_PASSED, Datapath
    from xdptool.runtime.jit.packed import PackedResults

    frames = _random_frames(rings, 400)
    source = b"".join(frames)
    offsets = array("Q", [sum(map(len, frames[:k])) for k in range(len(frames))])
    retvals = array("I", [(2, 2, 2, 1, 3, 0, 7)[k % 7] for k in range(len(frames))])
    faults = array("B", [int(k % 11 == 0) for k in range(len(frames))])
    selected = array("q", [(-1, -1, 2, 200, 1)[k % 5] for k in range(len(frames))])
    out, out_offsets = bytearray(), array("Q")
    for k, frame in enumerate(frames):  # every third packet "changed": its bytes in the output area
        out_offsets.append(len(out) if k % 3 == 0 else (1 << 64) - 1)
        out += frame if k % 3 == 0 else b""
    packed = PackedResults(retvals, faults, array("Q", bytes(8 * len(frames))), out, out_offsets,
                           array("I", map(len, frames)), source=source, source_offsets=offsets, rx_queues=selected)
    datapath = Datapath(rings)
    queue_of, classes = datapath.deliver_packed(packed, len(frames), per_queue_classes=True)
    want = {q: {"pkts": 0, "bytes": 0, "rss": 0, "program": 0, "selected_beyond": 0} for q in range(rings)}
    for k, frame in enumerate(frames):
        if retvals[k] != 2 or faults[k]:
            assert queue_of[k] == NOT_PASSED
            continue
        chosen = selected[k]
        if 0 <= chosen < rings:
            queue, how = chosen, "program"
        else:
            queue, how = expected_queue(frame, rings), ("rss" if chosen < 0 else "selected_beyond")
        assert queue_of[k] == queue, k
        assert [classes[q * len(frames) + k] for q in range(rings)] == [2 * (q == queue) for q in range(rings)]
        for key, value in (("pkts", 1), ("bytes", len(frame)), (how, 1)):
            want[queue][key] += value
    assert datapath.queues == [want[q] for q in range(rings)]


# -- control messages ----------------------------------------------------------------------------------------
def test_message_layouts_are_fw_h_structs():
    # struct cmsg_req_map_op / cmsg_reply_map_op: 16 bytes, then 64-byte key and value slots (ABI 2)
    request = cmsg.MapOp(drv.CcmType.MAP_UPDATE, 7, 3, 1, drv.BPF_NOEXIST, [(b"\x01\x02", b"\xaa" * 8)])
    raw = request.encode()
    assert len(raw) == 16 + 128 == cmsg.request_size(1)
    assert raw[:16] == bytes([4, 1, 0, 7]) + struct.pack(">III", 3, 1, 1)
    assert raw[16:18] == b"\x01\x02" and raw[16 + 64:16 + 72] == b"\xaa" * 8
    assert cmsg.MapOp.decode(raw) == cmsg.MapOp(4, 7, 3, 1, 1, [(b"\x01\x02" + bytes(62), b"\xaa" * 8 + bytes(56))])
    assert cmsg.ALLOC_REQUEST.size == 24 and cmsg.ALLOC_REPLY.size == 12 and cmsg.EVENT.size == 24
    assert drv.ccm_reply_type(drv.CcmType.MAP_LOOKUP) == 0x83
    event = cmsg.Event(0xFFFFFFFF, 5, b"meta", b"abcde").encode()
    assert len(event) == 24 + 8 + 4 and event[24:29] == b"abcde" and event[32:] == b"meta"


def _store(obj_path):
    from xdptool.elf import load_object
    from xdptool.runtime.maps import MapStore

    return MapStore.for_object(load_object(str(obj_path)))


@needs_clang
def test_driver_errnos_and_firmware_answers(card_objects):
    store = _store(card_objects["small_hash"])
    driver = cmsg.open_channel(store)
    pair, slots = store["pair"], store["slots"]
    assert driver.tids == {"pair": 1, "slots": 2}  # MAP_ALLOC hands out table ids from 1
    assert driver.update(pair, b"\x08\x00", bytes(4)).errno == 0
    assert driver.update(pair, b"\x08\x00", bytes(4), drv.BPF_NOEXIST).errno == -drv.EEXIST
    assert driver.update(pair, b"\x86\xdd", bytes(4), drv.BPF_EXIST).errno == -drv.ENOENT
    assert driver.update(pair, b"\x86\xdd", bytes(4)).errno == 0
    assert driver.update(pair, b"\x08\x06", bytes(4)).errno == -drv.E2BIG  # full: no credits
    assert driver.update(pair, b"\x08\x06", bytes(4), 3).errno == -drv.EINVAL  # > BPF_EXIST: the kernel core
    assert driver.update(slots, (4).to_bytes(4, "little"), bytes(8)).errno == -drv.E2BIG
    assert driver.lookup(slots, (4).to_bytes(4, "little")).errno == -drv.E2BIG
    assert driver.delete(slots, bytes(4)).errno == -drv.EINVAL
    assert driver.get_next_key(pair, b"\x12\x34").errno == -drv.ENOENT  # absent key: the firmware's NOENT
    assert driver.get_next_key(slots, (3).to_bytes(4, "little")).errno == -drv.ENOENT
    assert driver.get_next_key(slots, (9).to_bytes(4, "little")).key == bytes(4)
    assert driver.delete(pair, b"\x08\x00").errno == 0 and driver.lookup(pair, b"\x08\x00").errno == -drv.ENOENT
    assert driver.log == []


def test_every_reply_code_maps_to_the_drivers_errno():
    expected = [0, -77, -2, -22, -5, -17, -12, -7]  # nfp_bpf_ctrl_rc_to_errno
    for rc, errno in enumerate(expected + [-5]):
        def answer(message, rc=rc):
            request = cmsg.MapOp.decode(message)
            return cmsg.MapOp(drv.ccm_reply_type(request.type), request.tag, rc, 0, 0,
                              [(b"", b"")] if rc else []).encode()

        driver = cmsg.Driver(answer)
        driver.tids["m"] = 1
        assert driver.entry_op("m", drv.CcmType.MAP_LOOKUP, b"k").errno == errno
    assert driver.log == ["FW responded with invalid status: 8"]


@pytest.mark.parametrize("mangle, errno, logged", [
    (lambda r: bytes([r[0] ^ 1]) + r[1:], -drv.EIO, "cmsg drop - wrong type"),
    (lambda r: r[:2] + b"\xff\xff" + r[2 + 2:], -drv.ETIMEDOUT, "no one is waiting for tag 65535"),
    (lambda r: r[:-4], -drv.EIO, "too short 140 for 1 entries"),
    (lambda r: r[:10], -drv.EIO, "too short 10!"),
])
def test_malformed_replies_are_refused_as_the_driver_does(mangle, errno, logged):
    from xdptool.runtime.maps import MapStore
    from xdptool.elf.model import MapDef, MapType

    store = MapStore({"h": MapDef("h", MapType.HASH, 4, 4, 8)})
    card = cmsg.CardFirmware([store["h"]])
    driver = cmsg.Driver(card.handle)
    driver.alloc_map(store["h"])
    driver.send = lambda message: mangle(card.handle(message))
    assert driver.update(store["h"], bytes(4), bytes(4)).errno == errno
    assert logged in driver.log[-1]


@needs_clang
@pytest.mark.parametrize("name", ["port_blocklist", "small_hash", "xdpdump_like"])
def test_a_walk_through_messages_is_the_maps_dump(card_objects, name):
    store = _store(card_objects[name])
    if name == "port_blocklist":
        for port in (53, 80, 443):
            store["blocklist"].update(port.to_bytes(2, "big"), b"\x01")
    from xdptool.cli.maps import _walk

    driver = cmsg.open_channel(store)
    assert {n: _walk(driver, store[n]) for n in driver.tids} == {n: e for n, e in store.dump().items()
                                                                  if n in driver.tids}
    assert set(driver.neutral.values()) == ({"events"} if name == "xdpdump_like" else set())


# -- the command line ------------------------------------------------------------------------------------------
@needs_clang
def test_maps_commands_on_the_card_and_their_one_line_errors(card_objects, tmp_path):
    state = tmp_path / "card"
    invoke("offload", card_objects["small_hash"], "--state", state)
    invoke("maps", "set", "--state", state, "pair", "0800", "01000000")
    invoke("maps", "set", "--state", state, "pair", "86dd", "02000000")
    assert invoke("maps", "lookup", "--state", state, "pair", "86dd").stdout.strip().endswith("(86dd -> 02000000)")
    assert json.loads(invoke("maps", "next", "--state", state, "pair", "--json").stdout)["next_key"] == "0800"
    assert "E2BIG" in one_line_error("maps", "set", "--state", state, "pair", "0806", "01000000")
    assert "map is full (2 entries)" in one_line_error("maps", "set", "--state", state, "pair", "0806", "01000000")
    assert "key of 1 bytes, key_size is 2" in one_line_error("maps", "lookup", "--state", state, "pair", "08")
    assert "value of 2 bytes, value_size is 4" in one_line_error("maps", "set", "--state", state, "pair", "0800", "0100")
    assert "no map named 'nope'" in one_line_error("maps", "delete", "--state", state, "nope", "0800")
    assert "EINVAL" in one_line_error("maps", "delete", "--state", state, "slots", "00000000")
    assert "ENOENT" in one_line_error("maps", "delete", "--state", state, "pair", "0806")
    invoke("maps", "delete", "--state", state, "pair", "0800")
    assert json.loads(invoke("maps", "dump", "--state", state, "pair", "--json").stdout)["pair"][0]["key"] == "86dd"


@needs_clang
def test_card_only_options_are_refused_elsewhere(card_objects, tmp_path):
    capture = PROGRAMS / "port_blocklist.pcap"
    assert "card's datapath" in one_line_error("replay", card_objects["port_blocklist"], capture, "--events",
                                               tmp_path / "e.jsonl")
    assert "give --out-dir" in one_line_error("replay", card_objects["port_blocklist"], capture, "--target",
                                              "nfp-emu", "--per-queue")
