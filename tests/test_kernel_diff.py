"""Differential suite: every example program on the reference VM, the kernel (and the jit) must agree.

For each programs/<name>.c (built with clang -O2 -g -target bpf), starting from
programs/<name>.maps.json when present:

- its capture programs/<name>.pcap, packet by packet: verdict/retval and output
  bytes equal on every packet, map dumps equal at the end;
- random plausible packets (hypothesis + scapy: Ethernet, VLAN tags, IPv4 with
  options and fragments, IPv6, TCP/UDP/ICMP, ARP, truncations), at least 200 per
  example, same comparison.

Deliberate differences, not compared (the kernel does not report them or cannot
do them): the redirect target, trace_printk output and ringbuf/perf events;
packets under 14 bytes (BPF_PROG_TEST_RUN refuses them); for programs that read
the clock (bpf_ktime_get_ns...), map values — the VM's clock is deterministic,
the kernel's is real — only the keys are compared.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from xdptool.kernel.probe import kernel_unavailable_reason

_REASON = kernel_unavailable_reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(_REASON is not None, reason=f"kernel: {_REASON}")]

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
SOURCES = sorted(PROGRAMS.glob("*.c"))
NAMES = [s.stem for s in SOURCES]
CLOCK_HELPERS = {5, 125, 160, 208}  # ktime_get_ns, ktime_get_boot_ns, ktime_get_coarse_ns, ktime_get_tai_ns
MIN_PACKET = 14
RANDOM_RUNS, PACKETS_PER_RUN = 12, 20  # >= 200 random packets per example


def make_engine():
    try:
        from xdptool.runtime.engines import make_engine as factory
    except ImportError as err:
        pytest.skip(f"the runtime engine registry is not available ({err})")
    return factory


ENGINES = ["vm", "jit"]  # userspace engines compared with the kernel


def require_engine(engine: str) -> None:
    """Skip (with the reason) when an engine's package is not importable."""
    make_engine()
    if engine == "jit":
        pytest.importorskip("xdptool.runtime.jit.engine", reason="the jit engine is not importable")


@lru_cache(maxsize=None)
def built(name: str):
    """(Object, initial map state) for an example, built into a temp dir once per session."""
    import tempfile

    from xdptool import toolchain
    from xdptool.elf import load_object

    out = Path(tempfile.mkdtemp(prefix="xdptool-diff-")) / f"{name}.o"
    obj = load_object(toolchain.build(PROGRAMS / f"{name}.c", out).output)
    state_file = PROGRAMS / f"{name}.maps.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    return obj, state


def reads_clock(program) -> bool:
    return any(i.is_helper_call and i.imm in CLOCK_HELPERS for i in program.insns)


def fresh(engine_name: str, obj, state):
    from xdptool.runtime.maps import MapStore

    store = MapStore.for_object(obj)
    store.load(state)
    return make_engine()(engine_name, obj.program(), store, None), store


def close(engine) -> None:
    if hasattr(engine, "close"):
        engine.close()


def comparable_maps(dump: dict, clock: bool) -> dict:
    if not clock:
        return dump
    return {name: [entry["key"] for entry in entries] for name, entries in dump.items()}


def differences(name: str, packets: list[bytes], label: str, other: str) -> list[str]:
    """Run `packets` on the kernel and engine `other` from the same state; describe every mismatch."""
    obj, state = built(name)
    packets = [p for p in packets if len(p) >= MIN_PACKET]
    clock = reads_clock(obj.program())
    kernel, kstore = fresh("kernel", obj, state)
    try:
        expected = kernel.run_batch(packets)
    finally:
        close(kernel)
    found = []
    engine, store = fresh(other, obj, state)
    try:
        got = engine.run_batch(packets)
    finally:
        close(engine)
    for index, (k, o) in enumerate(zip(expected, got)):
        if (k.verdict, k.retval, k.packet) != (o.verdict, o.retval if o.fault is None else k.retval, o.packet):
            fault = f" fault {o.fault}" if o.fault else ""
            found.append(
                f"{name} {label} packet {index} ({packets[index].hex()}): kernel {k.verdict}/{k.retval} "
                f"{k.packet.hex()} vs {other} {o.verdict}/{o.retval}{fault} {o.packet.hex()}"
            )
    kmaps, omaps = comparable_maps(kstore.dump(), clock), comparable_maps(store.dump(), clock)
    if kmaps != omaps:
        found.append(f"{name} {label}: final maps differ: kernel {kmaps} vs {other} {omaps}")
    return found


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NAMES)
def test_capture_agrees_with_the_kernel(name, engine):
    require_engine(engine)
    capture_path = PROGRAMS / f"{name}.pcap"
    if not capture_path.exists():
        pytest.skip(f"no capture {capture_path.name} yet")
    from xdptool.replay.pcap import read_capture

    capture = read_capture(capture_path)
    packets = [capture.data(i) for i in range(len(capture))]
    assert differences(name, packets, "capture", engine) == []


# -- random plausible packets -------------------------------------------------------
PORTS = st.sampled_from([0, 22, 53, 80, 443, 8080, 9000, 65535]) | st.integers(0, 65535)
IPV4 = st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.100", "192.168.1.1", "0.0.0.0"]) | st.ip_addresses(v=4).map(str)
IPV6 = st.sampled_from(["2001:db8::1", "2001:db8::2", "fe80::1"]) | st.ip_addresses(v=6).map(str)
MACS = st.sampled_from(["02:00:00:00:00:01", "02:00:00:00:00:02", "ff:ff:ff:ff:ff:ff"])
PAYLOAD = st.binary(max_size=48)


@st.composite
def l4(draw, v6: bool):
    from scapy.layers.inet import ICMP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6EchoRequest

    kind = draw(st.sampled_from(["udp", "tcp", "icmp", "raw"]))
    if kind == "udp":
        return UDP(sport=draw(PORTS), dport=draw(PORTS)) / draw(PAYLOAD)
    if kind == "tcp":
        flags = draw(st.sampled_from(["S", "SA", "A", "PA", "R", "F", ""]))
        return TCP(sport=draw(PORTS), dport=draw(PORTS), flags=flags, dataofs=draw(st.sampled_from([None, None, 4, 6]))) / draw(PAYLOAD)
    if kind == "icmp":
        return (ICMPv6EchoRequest() if v6 else ICMP()) / draw(PAYLOAD)
    return draw(PAYLOAD)


@st.composite
def packets(draw) -> bytes:
    """A plausible frame, sometimes malformed (bad IHL, fragments, truncated)."""
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Dot1Q, Ether

    frame = Ether(src=draw(MACS), dst=draw(MACS))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):
        frame = frame / (Dot1Q(vlan=draw(st.integers(0, 4095))))
    family = draw(st.sampled_from(["ipv4", "ipv4", "ipv6", "arp", "other"]))
    if family == "ipv4":
        ip = IP(src=draw(IPV4), dst=draw(IPV4), ttl=draw(st.integers(0, 255)),
                frag=draw(st.sampled_from([0, 0, 0, 1, 100])), flags=draw(st.sampled_from([0, 1, 2])),
                ihl=draw(st.sampled_from([None, None, None, 4, 6])))
        if draw(st.booleans()):
            ip.proto = draw(st.sampled_from([1, 6, 17, 47, 4]))
        frame = frame / ip / draw(l4(False))
    elif family == "ipv6":
        frame = frame / IPv6(src=draw(IPV6), dst=draw(IPV6), hlim=draw(st.integers(0, 255))) / draw(l4(True))
    elif family == "arp":
        frame = frame / ARP(op=draw(st.sampled_from([1, 2])), psrc=draw(IPV4), pdst=draw(IPV4))
    else:
        frame.type = draw(st.integers(0, 0xFFFF))
        frame = frame / draw(PAYLOAD)
    raw = bytes(frame)
    if draw(st.integers(0, 9)) == 0:  # truncated anywhere from the Ethernet header on
        raw = raw[: draw(st.integers(MIN_PACKET, len(raw)))]
    return raw


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", NAMES)
def test_random_packets_agree_with_the_kernel(name, engine):
    require_engine(engine)
    built(name)  # build outside hypothesis's deadline

    @settings(max_examples=RANDOM_RUNS, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(packets(), min_size=PACKETS_PER_RUN, max_size=PACKETS_PER_RUN))
    def check(batch):
        assert differences(name, batch, "random", engine) == []

    check()
