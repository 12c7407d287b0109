"""nfp-emu's native code (nfp/native.py) against the interpreted executor, packet for packet.

Every offloadable example runs its own capture and a few hundred random packets on
both: verdict, output packet, fault, instructions executed, selected queue, the map
state after every batch and the per-verdict cycle counts the card model uses must be
equal.  The executor is the reference; nothing here is computed by the native path
alone.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from xdptool.elf import load_object
from xdptool.nfp import native
from xdptool.nfp.engine import NfpEngine
from xdptool.nfp.offload import offload
from xdptool.replay.pcap import read_capture
from xdptool.runtime.maps import MapStore
from xdptool.runtime.target import read_maps_file

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"


@pytest.fixture(scope="module")
def offloadable(built_examples):
    out = {}
    for name, path in built_examples.items():
        program = load_object(str(path)).program()
        if offload(program, estimate=False, compare=False).offloaded:
            out[name] = program
    return out


def random_packets(seed: int, count: int = 200) -> list[bytes]:
    """Ethernet frames, mostly IPv4/IPv6 UDP/TCP with random fields, some random bytes."""
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        kind = rng.random()
        eth = bytes(rng.getrandbits(8) for _ in range(12))
        if kind < 0.6:
            proto = rng.choice([6, 17, 1, 47, 4])
            l4 = struct.pack("!HH", rng.choice([53, 80, 443, 22, rng.getrandbits(16)]),
                             rng.choice([53, 80, 443, rng.getrandbits(16)])) + bytes(rng.getrandbits(8)
                                                                                  for _ in range(rng.randrange(4, 60)))
            ip = struct.pack("!BBHHHBBH4s4s", rng.choice([0x45, 0x46, 0x44]), 0, 20 + len(l4), 0, 0, 64, proto, 0,
                             rng.randbytes(4), rng.randbytes(4))
            packets.append(eth + b"\x08\x00" + ip + l4)
        elif kind < 0.75:
            l4 = rng.randbytes(rng.randrange(8, 40))
            ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(l4), rng.choice([6, 17, 58]), 64, rng.randbytes(16),
                              rng.randbytes(16))
            packets.append(eth + b"\x86\xdd" + ip6 + l4)
        else:
            packets.append(eth + rng.randbytes(rng.randrange(2, 120)))
    return packets


def capture_packets(name: str) -> list[bytes]:
    path = PROGRAMS / f"{name}.pcap"
    if not path.exists():
        return []
    capture = read_capture(str(path))
    return [bytes(capture.data(i)) for i in range(len(capture)) if len(capture.data(i)) >= 14]


def engines(program, name):
    pair = []
    for use_native in (True, False):
        store = MapStore.for_object(program.object)
        maps_file = PROGRAMS / f"{name}.maps.json"
        if maps_file.exists():
            store.load(read_maps_file(str(maps_file)))
        pair.append(NfpEngine(program, store, native=use_native))
    return pair


def outcome(result) -> tuple:
    return (result.retval, result.packet, result.insns_executed, result.rx_queue,
            None if result.fault is None else (result.fault.message, result.fault.pc))


def test_every_offloadable_example_compiles_natively(offloadable):
    assert len(offloadable) >= 10
    for name, program in offloadable.items():
        image = offload(program, estimate=False, compare=False).image
        assert native.supported(image) is None, name
        fast, _ = engines(program, name)
        assert fast.native is not None, name


@pytest.mark.parametrize("source", ["capture", "random"])
def test_native_and_interpreted_agree_packet_for_packet(offloadable, source):
    for seed, (name, program) in enumerate(sorted(offloadable.items())):
        packets = capture_packets(name) if source == "capture" else random_packets(seed)
        if not packets:
            continue
        fast, reference = engines(program, name)
        for start in range(0, len(packets), 64):  # several batches: map state carries across
            batch = packets[start:start + 64]
            got, want = fast.run_batch(batch), reference.run_batch(batch)
            for index, (a, b) in enumerate(zip(got, want)):
                assert outcome(a) == outcome(b), (name, source, start + index)
            assert fast.maps.dump() == reference.maps.dump(), (name, source, start)
        assert fast.traffic.classes == reference.traffic.classes, name
        assert fast.next_thread == reference.next_thread


def test_the_what_if_and_unsupported_images_stay_on_the_executor(offloadable):
    program = offloadable["mac_swap"]
    what_if = offload(program, allocator="xdptool", compare=False, estimate=False).image
    assert "what-if" in native.supported(what_if)
    engine = NfpEngine(program, MapStore.for_object(program.object), allocator="xdptool")
    assert engine.native is None and engine.run_batch([bytes(60)])[0].verdict == "XDP_TX"


def test_the_interpreter_can_be_forced(offloadable, monkeypatch):
    monkeypatch.setenv("XDPTOOL_NFP_INTERPRET", "1")
    engine = NfpEngine(offloadable["drop_all"], MapStore.for_object(offloadable["drop_all"].object))
    assert engine.native is None


def test_a_frame_larger_than_the_default_grows_alike(offloadable):
    fast, reference = engines(offloadable["port_rewrite"], "port_rewrite")
    big = random_packets(7, 3)[0].ljust(9000, b"\x5a")
    assert outcome(fast.run_batch([big])[0]) == outcome(reference.run_batch([big])[0])
