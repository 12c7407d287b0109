"""A user's runtime config (runtime/config.py RUNTIME_KEYS): `replay`/`run --runtime FILE.json`
and a test spec's [runtime] table give bpf_fib_lookup's routes, bpf_check_mtu's devices, the
CPUs, clock and seeds.  Every key is checked (one line, exit 2, naming the key); an engine that
cannot honour a key refuses it; the fib_forward router answers as the config says -- vm == jit
(no Python fallback) == what this test derives from the config itself."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from xdptool.cli.main import cli
from xdptool.runtime.contract import XdpContext
from xdptool.runtime.target import program_target

DATA = Path(__file__).parent / "data" / "runtime"
SOURCE, CONFIG, CAPTURE = DATA / "fib_forward.c", DATA / "fib_forward.runtime.json", DATA / "fib_forward.pcap"
XDP_DROP, XDP_PASS, XDP_REDIRECT = "XDP_DROP", "XDP_PASS", "XDP_REDIRECT"
ETH_HLEN, INGRESS = 14, 1
MACS = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def packets() -> list[bytes]:
    """Every outcome: routes of each length, both families, too big for the route or the egress
    device, no route, TTL 1, not IP."""
    frames = [Ether(**MACS) / IP(src="192.0.2.1", dst=dst, ttl=ttl) / UDP(dport=53) / Raw(b"x" * size)
              for dst in ("10.1.2.3", "10.9.1.1", "10.9.255.255", "192.168.1.1", "11.0.0.1")
              for ttl, size in ((64, 0), (64, 1371), (64, 1372), (64, 1472), (64, 1473), (2, 8000), (1, 0))]
    frames += [Ether(**MACS) / IPv6(src="2001:db8::1", dst=dst, hlim=hlim) / UDP(dport=53) / Raw(b"y" * size)
               for dst in ("2001:db8:5::1", "2001:db9::1", "fe80::1")
               for hlim, size in ((64, 0), (64, 1218), (64, 1219), (64, 1500), (1, 0))]
    frames.append(Ether(**MACS) / ARP())
    return [bytes(frame) for frame in frames]


def expected(frame: bytes, config: dict) -> tuple[int, int | None, bytes]:
    """The router's answer derived from the config document: (verdict, redirect ifindex, bytes)."""
    packet = Ether(frame)
    ip = packet.getlayer(IP) or packet.getlayer(IPv6)
    if ip is None or (ip.ttl if IP in packet else ip.hlim) <= 1:
        return XDP_PASS, None, frame
    destination = ipaddress.ip_address(ip.dst)
    routes = [r for r in config["fib_table"] if destination in ipaddress.ip_network(r["prefix"])]
    if not routes:
        return XDP_PASS, None, frame
    route = max(routes, key=lambda r: ipaddress.ip_network(r["prefix"]).prefixlen)
    tot_len = len(bytes(ip))
    device_mtu = config["device_mtus"].get(str(route["ifindex"]), config["mtu"] if route["ifindex"] == INGRESS else None)
    if tot_len > route.get("mtu", 1500) or len(frame) > device_mtu + ETH_HLEN:
        return XDP_DROP, None, frame
    packet.src, packet.dst = route["smac"], route["dmac"]
    if IP in packet:
        packet[IP].ttl -= 1
        del packet[IP].chksum  # scapy computes it afresh: the program's RFC 1624 update must equal it
    else:
        packet[IPv6].hlim -= 1
    return XDP_REDIRECT, route["ifindex"], bytes(packet)


@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_the_router_answers_as_the_config_says(engine):
    config = json.loads(CONFIG.read_text())
    target = program_target(str(SOURCE), None, engine).with_runtime(str(CONFIG))
    run, store = target.make()
    got, want = [], []
    for frame in packets():
        result = run.run(frame, XdpContext(ingress_ifindex=INGRESS))
        got.append((result.verdict, (result.redirect or {}).get("ifindex"), bytes(result.packet)))
        want.append(expected(frame, config))
    assert got == want
    verdicts = {verdict for verdict, _, _ in want}
    assert verdicts == {XDP_DROP, XDP_PASS, XDP_REDIRECT}
    if engine == "jit":
        fallbacks = run.helper_fallbacks()
        assert fallbacks["bpf_fib_lookup"] == 0 and fallbacks["bpf_check_mtu"] == 0
    run.close()


def test_replay_with_runtime_file_vm_equals_jit_and_queues_take_it():
    documents = []
    for args in (("--target", "vm"), ("--target", "jit"), ("--target", "jit", "--queues", "2", "--sum-shared-maps")):
        result = invoke("replay", SOURCE, CAPTURE, "--runtime", CONFIG, "--json", *args)
        assert result.exit_code == 0, result.output
        documents.append(json.loads(result.stdout))
    assert documents[0]["maps"] == documents[1]["maps"] == documents[2]["maps"]
    stats = {entry["key"]: entry["value"] for entry in documents[0]["maps"]["stats"]}
    assert stats == {"00000000": "0300000000000000", "01000000": "0200000000000000",
                     "02000000": "0300000000000000", "03000000": "0200000000000000"}
    # without the file there are no routes: nothing is forwarded
    plain = json.loads(invoke("replay", SOURCE, CAPTURE, "--json").stdout)
    assert {e["key"]: e["value"] for e in plain["maps"]["stats"]}["00000000"] == "0000000000000000"


BAD_KEYS = [
    ({"routes": []}, "routes: unknown key"),
    ({"ncpus": "4"}, "ncpus: expected an integer, got '4'"),
    ({"ncpus": 2, "cpu": 2}, "cpu: cpu 2 is outside 0..1"),
    ({"mtu": 0}, "mtu: 0 is out of range"),
    ({"device_mtus": {"2": 1 << 31}}, "device_mtus.2: 2147483648 is out of range"),
    ({"device_mtus": {"eth0": 1500}}, "device_mtus.eth0: expected a decimal ifindex"),
    ({"fib_table": [{"prefix": "10.0.0.1/8", "ifindex": 2}]}, "fib_table[0].prefix: bad prefix '10.0.0.1/8'"),
    ({"fib_table": [{"prefix": "10.0.0.0/33", "ifindex": 2}]}, "fib_table[0].prefix: bad prefix"),
    ({"fib_table": [{"prefix": "10.0.0.0", "ifindex": 2}]}, "fib_table[0].prefix: expected a prefix"),
    ({"fib_table": [{"prefix": "::/0", "ifindex": 2, "dmac": "02:00:00:00:00"}]}, "fib_table[0].dmac: expected a MAC"),
    ({"fib_table": [{"prefix": "::/0", "ifindex": 0}]}, "fib_table[0].ifindex: 0 is out of range"),
    ({"fib_table": [{"prefix": "::/0", "ifindex": 2, "mtu": 70000}]}, "fib_table[0].mtu: 70000 is out of range"),
    ({"fib_table": [{"prefix": "::/0"}]}, "fib_table[0].ifindex: required"),
    ({"fib_table": [{"prefix": "::/0", "ifindex": 2, "gw": "::1"}]}, "fib_table[0].gw: unknown key"),
    ({"may_goto_budget": -1}, "may_goto_budget: -1 is out of range"),
    ([], "runtime: expected a table of runtime keys"),
]


@pytest.mark.parametrize("document,message", BAD_KEYS, ids=[m.split(":")[0] for _, m in BAD_KEYS])
def test_every_key_is_checked_one_line_exit_2(tmp_path, document, message):
    path = tmp_path / "rt.json"
    path.write_text(json.dumps(document))
    result = invoke("replay", SOURCE, CAPTURE, "--runtime", path)
    assert result.exit_code == 2
    assert f"{path}: {message}" in result.output and len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize("args,message", [
    (("--target", "kernel"), "runtime key device_mtus cannot be given to the kernel engine"),
    (("--target", "jit", "--compare", "kernel"), "runtime key device_mtus cannot be given to the kernel engine"),
    (("--target", "nfp-emu"), "runtime key device_mtus cannot be given to the nfp-emu engine"),
])
def test_an_engine_that_cannot_honour_a_key_refuses_it(args, message):
    result = invoke("replay", SOURCE, CAPTURE, "--runtime", CONFIG, *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_queues_refuse_a_cpu_they_would_override(tmp_path):
    path = tmp_path / "rt.json"
    path.write_text(json.dumps({"ncpus": 4, "cpu": 1}))
    result = invoke("replay", SOURCE, CAPTURE, "--runtime", path, "--queues", "2")
    assert result.exit_code == 2 and "--queues 2 runs queue i on cpu i" in result.output, result.output


def test_run_takes_the_file_too():
    frame = bytes(Ether(**MACS) / IP(src="192.0.2.1", dst="10.9.1.1") / UDP(dport=53))
    result = invoke("run", SOURCE, "--packet", frame.hex(), "--runtime", CONFIG, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "XDP_REDIRECT"


SPEC = """program = "{source}"
targets = ["vm", "jit"]
[runtime]
mtu = 1500
device_mtus = {{ 2 = 9000, 3 = 1400, 4 = 1280 }}
fib_table = [
  {{ prefix = "10.0.0.0/8", ifindex = 2, smac = "02:00:00:00:02:00", dmac = "02:00:00:00:02:01" }},
  {{ prefix = "10.9.0.0/16", ifindex = 3, smac = "02:00:00:00:03:00", dmac = "02:00:00:00:03:01", mtu = 1400 }},
]

[[case]]
name = "forwarded"
packet = "Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='192.0.2.1', dst='10.9.1.1')/UDP(dport=53)"
expect.verdict = "XDP_REDIRECT"
expect.redirect = {{ ifindex = 3 }}

[[case]]
name = "too big for the route"
packet = "Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='192.0.2.1', dst='10.9.1.1')/UDP(dport=53)/Raw(b'x' * 1400)"
expect.verdict = "XDP_DROP"
"""


def test_a_spec_runtime_table(tmp_path):
    spec = tmp_path / "router.toml"
    spec.write_text(SPEC.format(source=SOURCE))
    result = invoke("test", spec)
    assert result.exit_code == 0 and "2 passed" in result.output, result.output
    spec.write_text(SPEC.format(source=SOURCE).replace('dmac = "02:00:00:00:03:01"', 'dmac = "02:00:00:00:03"'))
    result = invoke("test", spec)
    assert result.exit_code == 2 and "runtime.fib_table[1].dmac: expected a MAC" in result.output, result.output
    assert f"{spec}:7:" in result.output
    spec.write_text("ncpus = 2\n" + SPEC.format(source=SOURCE).replace("mtu = 1500", "mtu = 1500\nncpus = 2"))
    result = invoke("test", spec)
    assert result.exit_code == 2 and "ncpus: given twice" in result.output, result.output


# -- the live kernel's routes: a network namespace built from a config, the same packets ------

_NETNS_DEVICES = [  # name, MAC, MTU, gateway MAC, IPv4 routes (prefix, route MTU or None), IPv6 routes
    ("d2", "02:00:00:00:02:00", 9000, "02:00:00:00:02:01", [("10.0.0.0/8", None)], []),
    ("d3", "02:00:00:00:03:00", 1500, "02:00:00:00:03:01", [("10.9.0.0/16", 1400)], []),
    ("d4", "02:00:00:00:04:00", 1280, "02:00:00:00:04:01", [], [("2001:db8::/32", None)]),
]
_KERNEL_RUN = """
import json, sys
from xdptool.elf import load_object
from xdptool.runtime.contract import XdpContext
from xdptool.runtime.engines import make_engine
obj = load_object(sys.argv[1])
packets = [bytes.fromhex(p) for p in json.load(sys.stdin)]
with make_engine("kernel", obj.program("fib_forward")) as engine:
    print(json.dumps([[r.verdict, r.packet.hex()] for r in (engine.run(p, XdpContext(ingress_ifindex=1)) for p in packets)]))
"""


def _netns(name: str) -> dict:
    """The namespace's devices, addresses, gateways (permanent neighbours) and routes; the
    runtime document that describes them (ifindexes as the kernel gave them)."""
    import subprocess

    def ip(*args):
        subprocess.run(["ip", "-n", name, *args], check=True, capture_output=True)

    subprocess.run(["ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv4.conf.all.forwarding=1",
                    "net.ipv6.conf.all.forwarding=1"], check=True, capture_output=True)
    ip("link", "set", "lo", "up")
    for n, (dev, mac, mtu, gateway, v4, v6) in enumerate(_NETNS_DEVICES):
        ip("link", "add", dev, "type", "veth", "peer", "name", f"p{dev}")
        ip("link", "set", dev, "address", mac, "mtu", str(mtu), "up")
        ip("link", "set", f"p{dev}", "mtu", str(mtu), "up")
        ip("addr", "add", f"192.168.{n}.1/30", "dev", dev)
        ip("addr", "add", f"fd00:{n}::1/64", "dev", dev, "nodad")
        ip("neigh", "add", f"192.168.{n}.2", "lladdr", gateway, "dev", dev, "nud", "permanent")
        ip("neigh", "add", f"fd00:{n}::2", "lladdr", gateway, "dev", dev, "nud", "permanent")
        for prefix, route_mtu in v4:
            ip("route", "add", prefix, "via", f"192.168.{n}.2", "dev", dev,  # (a route MTU counts when locked)
               *(("mtu", "lock", str(route_mtu)) if route_mtu else ()))
        for prefix, route_mtu in v6:
            ip("-6", "route", "add", prefix, "via", f"fd00:{n}::2", "dev", dev)
    links = json.loads(subprocess.run(["ip", "-n", name, "-j", "link"], check=True, capture_output=True, text=True).stdout)
    index = {link["ifname"]: link["ifindex"] for link in links}
    routes = [{"prefix": prefix, "ifindex": index[dev], "smac": mac, "dmac": gateway, "mtu": route_mtu or mtu}
              for dev, mac, mtu, gateway, v4, v6 in _NETNS_DEVICES for prefix, route_mtu in v4 + v6]
    return {"fib_table": routes, "mtu": 65536, "device_mtus": {str(index[d[0]]): d[2] for d in _NETNS_DEVICES}}


@pytest.mark.kernel
def test_the_kernel_routes_as_the_config_says(tmp_path):
    """The namespace's routes and the config that describes them give the same forwarding:
    vm == jit == the live kernel's bpf_fib_lookup and bpf_check_mtu (verdict and bytes)."""
    import os
    import shutil
    import subprocess
    import sys

    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason is not None or shutil.which("ip") is None:
        pytest.skip(f"kernel: {reason or 'no ip command'}")
    name = f"xdpt{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode:
        pytest.skip("cannot make a network namespace here")
    try:
        try:
            document = _netns(name)
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"cannot build the namespace: {exc.stderr.decode().strip()}")
        config_path = tmp_path / "routes.json"
        config_path.write_text(json.dumps(document))
        target = program_target(str(SOURCE), None, "vm")
        frames = packets()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        run = subprocess.run(["ip", "netns", "exec", name, sys.executable, "-c", _KERNEL_RUN, target.object.path],
                             input=json.dumps([f.hex() for f in frames]), capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr
        kernel = [tuple(row) for row in json.loads(run.stdout)]
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    for engine in ("vm", "jit"):
        ours, _ = program_target(str(SOURCE), None, engine).with_runtime(str(config_path)).make()
        got = [(r.verdict, bytes(r.packet).hex()) for r in (ours.run(f, XdpContext(ingress_ifindex=INGRESS)) for f in frames)]
        for index, (mine, theirs) in enumerate(zip(got, kernel)):
            assert mine == theirs, f"{engine}, packet {index}: {Ether(frames[index]).summary()}"
    assert {verdict for verdict, _ in kernel} == {XDP_DROP, XDP_PASS, XDP_REDIRECT}
