"""The example programs on the emulated NFP: same results as the reference VM, or the driver's refusal.

For every programs/<name>.c the nfp check accepts: its capture (from
programs/<name>.maps.json when present) and random plausible packets
(hypothesis + scapy) give the same verdict, output bytes and final maps on
nfp-emu as on the `vm` engine, with the kernel JIT's image (what the card runs)
and with our allocator's what-if.  The check's verdict agrees with each
program's "NFP offload: yes|no" header (written from the driver's rules), every
instruction word of both images passes the ustore's validity check, and the
what-if's margins against the kernel image are the ones the report quotes.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdptool.nfp.engine import NfpEngine
from xdptool.nfp.offload import offload
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
NAMES = sorted(p.stem for p in PROGRAMS.glob("*.c"))


@lru_cache(maxsize=None)
def built(name: str):
    """(Object, initial maps, offload report) once per session."""
    import shutil
    import tempfile

    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain
    from xdptool.elf import load_object

    out = Path(tempfile.mkdtemp(prefix="xdptool-nfp-")) / f"{name}.o"
    obj = load_object(toolchain.build(PROGRAMS / f"{name}.c", out).output)
    state_file = PROGRAMS / f"{name}.maps.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    return obj, state, offload(obj.program())


def claim(name: str) -> str:
    match = re.search(r"NFP offload:\s*(yes|no)\b", (PROGRAMS / f"{name}.c").read_text())
    return match.group(1) if match else ""


def offloaded(name: str):
    obj, state, report = built(name)
    if not report.offloaded:
        pytest.skip(f"{name} is not offloadable: {report.reasons[0]}")
    return obj, state, report


ALLOCATORS = ["kernel", "xdptool"]


def image_report(report, allocator: str):
    """The report with the image of `allocator` as the one nfp-emu runs."""
    image = report.kernel if allocator == "kernel" else report.what_if
    if image is None:
        pytest.skip(f"no {allocator} image")
    return replace(report, image=image)


def differences(name: str, packets: list[bytes], allocator: str = "kernel") -> list[str]:
    obj, state, report = offloaded(name)
    stores = [MapStore.for_object(obj), MapStore.for_object(obj)]
    for store in stores:
        store.load(state)
    vm = VmEngine(obj.program(), stores[0])
    nfp = NfpEngine(obj.program(), stores[1], report=image_report(report, allocator))
    found = []
    for index, packet in enumerate(packets):
        want, got = vm.run(packet), nfp.run(packet)
        if (want.verdict, want.packet) != (got.verdict, got.packet):
            found.append(f"{name} packet {index} ({packet.hex()}): vm {want.verdict} {want.packet.hex()} "
                         f"vs nfp-emu {got.verdict} {got.packet.hex()} {got.fault or ''}")
    if stores[0].dump() != stores[1].dump():
        found.append(f"{name}: final maps differ: vm {stores[0].dump()} vs nfp-emu {stores[1].dump()}")
    return found


@pytest.mark.parametrize("name", NAMES)
def test_check_agrees_with_the_header_claim(name):
    _, _, report = built(name)
    assert claim(name) == ("yes" if report.offloaded else "no"), [str(r) for r in report.reasons]
    if not report.offloaded:
        assert report.reasons and report.reasons[0].message


def test_at_least_eight_examples_offload():
    assert sum(built(name)[2].offloaded for name in NAMES) >= 8


@pytest.mark.parametrize("allocator", ALLOCATORS)
@pytest.mark.parametrize("name", NAMES)
def test_capture_gives_the_same_results_as_the_vm(name, allocator):
    capture = PROGRAMS / f"{name}.pcap"
    if not capture.exists():
        pytest.skip("no capture")
    from xdptool.replay.pcap import read_capture

    packets = read_capture(capture)
    assert differences(name, [bytes(packets.data(i)) for i in range(len(packets))], allocator) == []


# -- random plausible packets ----------------------------------------------------------------------
PORTS = st.sampled_from([0, 22, 53, 80, 443, 8080, 9000, 65535]) | st.integers(0, 65535)
IPV4 = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.100", "192.168.1.1"]) | st.ip_addresses(v=4).map(str)


@st.composite
def frames(draw) -> bytes:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    frame = Ether(src="02:00:00:00:00:01", dst=draw(st.sampled_from(["02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"])))
    if draw(st.integers(0, 4)) == 0:
        frame = frame / Dot1Q(vlan=draw(st.integers(0, 4095)))
    payload = draw(st.binary(max_size=40))
    l4 = draw(st.sampled_from(["udp", "tcp", "icmp"]))
    upper = {"udp": lambda: UDP(sport=draw(PORTS), dport=draw(PORTS)),
             "tcp": lambda: TCP(sport=draw(PORTS), dport=draw(PORTS), flags=draw(st.sampled_from(["S", "SA", "A", "R"]))),
             "icmp": lambda: ICMP()}[l4]() / payload
    family = draw(st.sampled_from(["ipv4", "ipv4", "ipv4", "ipv6", "arp", "other"]))
    if family == "ipv4":
        frame = frame / IP(src=draw(IPV4), dst=draw(IPV4), ihl=draw(st.sampled_from([None, None, 4, 6])),
                           frag=draw(st.sampled_from([0, 0, 1])), ttl=draw(st.integers(0, 255))) / upper
    elif family == "ipv6":
        frame = frame / IPv6(src="2001:db8::1", dst="2001:db8::2") / upper
    elif family == "arp":
        frame = frame / ARP(psrc=draw(IPV4), pdst=draw(IPV4))
    else:
        frame.type = draw(st.integers(0, 0xFFFF))
        frame = frame / payload
    raw = bytes(frame)
    if draw(st.integers(0, 7)) == 0:
        raw = raw[:draw(st.integers(1, len(raw)))]
    return raw


@pytest.mark.parametrize("allocator", ALLOCATORS)
@pytest.mark.parametrize("name", NAMES)
def test_random_packets_give_the_same_results_as_the_vm(name, allocator):
    offloaded(name)

    @settings(max_examples=4, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(frames(), min_size=20, max_size=20))
    def check(batch):
        assert differences(name, batch, allocator) == []

    check()


# -- our allocator's what-if against the kernel JIT's image ------------------------------------------
def offloadable_reports():
    return [built(name)[2] for name in NAMES if built(name)[2].offloaded]


def test_the_what_if_saves_a_third_of_the_kernel_image_on_average():
    """The ratio `make bench` quotes: what-if instructions / kernel-image instructions."""
    reports = [r for r in offloadable_reports() if r.what_if is not None]
    assert len(reports) >= 8
    savings = [1 - len(r.what_if.insns) / len(r.kernel.insns) for r in reports]
    assert sum(savings) / len(savings) >= 0.30, savings


def test_the_kernel_image_runs_4_contexts_and_the_what_if_mostly_8():
    reports = offloadable_reports()
    assert all(r.kernel.contexts == 4 and r.image is r.kernel for r in reports)
    assert sum(r.what_if is not None and r.what_if.contexts == 8 for r in reports) >= 0.8 * len(reports)


@pytest.mark.parametrize("name", NAMES)
def test_every_instruction_word_passes_the_ustore_check(name):
    """nfp_bpf_ustore_calc refuses a word with bits above 45 (nfp_ustore_check_valid_no_ecc)."""
    from xdptool.nfp.encoding import encode

    report = offloaded(name)[2]
    for image in (report.kernel, report.what_if):
        if image is not None:
            assert all(encode(insn) >> 46 == 0 for insn in image.insns), image.allocator


def test_the_window_is_checked_on_the_kernel_image():
    """The driver compares the JIT's output (prologue, outro, prefetch NOPs included) with the window."""
    for report in offloadable_reports():
        doc = report.as_json()
        assert doc["nfp_instructions"] == len(report.kernel.insns) <= doc["window"] == 2560
        assert report.kernel.insns[-8:] == [i for i in report.kernel.insns[-8:] if i.kind == "nop"]


@pytest.mark.parametrize("name", NAMES)
def test_offload_json_fields(name):
    _, _, report = built(name)
    doc = report.as_json()
    for key in ("offloaded", "reasons", "nfp_instructions", "contexts", "registers", "spills", "lm_bytes", "baseline",
                "image", "images"):
        assert key in doc
    if report.offloaded:
        assert doc["nfp_instructions"] <= doc["window"] and set(doc["registers"]) == {"A", "B"}
        assert doc["estimate"]["cycles_per_packet"] > 0 and doc["estimate"]["threads"] == 4
        assert doc["image"] == {"instructions": len(report.kernel.insns), "contexts": 4, "allocator": "kernel",
                                "runs_on_card": True}
        assert doc["images"]["kernel"]["runs_on_card"] and not doc["images"]["xdptool"]["runs_on_card"]
