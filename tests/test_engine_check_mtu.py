"""bpf_check_mtu for XDP (runtime/helpers.py check_mtu, after net/core/filter.c
bpf_xdp_check_mtu; native in the jit: runtime/jit/mtu.py): packet-chosen ifindex (0, the receiving device, another device, none),
*mtu_len (0: the frame's length, else an L3 length), len_diff (negative, huge) and flags; the
vm and the jit agree, and both agree with the live kernel, whose BPF_PROG_TEST_RUN receives on
lo (its MTU read from sysfs, every other device of the machine listed in the config)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.errors import XdpError
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
         __type(key, __u32); __type(value, __u64); } res SEC(".maps");

/* packet bytes 14..27: ifindex, mtu_len, len_diff (little-endian u32s), flags (u16) */
SEC("xdp") int check(struct xdp_md *ctx)
{
	__u32 a[4] = {}, k = 0, mtu_len;
	__u64 *o;
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, a, 14))
		return XDP_PASS;
	mtu_len = a[1];
	r = bpf_check_mtu(ctx, a[0], &mtu_len, (__s32)a[2], a[3] & 0xffff);
	o = bpf_map_lookup_elem(&res, &k);
	if (o)
		*o = (__u64)(__u32)r << 32 | mtu_len;
	return r == 0 ? XDP_PASS : r == 1 ? XDP_TX : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
"""

_KERNEL = kernel_unavailable_reason()
_NET = Path("/sys/class/net")


def _machine_devices() -> tuple[int, dict[int, int]]:
    """lo's MTU and {ifindex: MTU} of the machine's other devices, as sysfs gives them."""
    devices = {int((d / "ifindex").read_text()): int((d / "mtu").read_text()) for d in _NET.iterdir()
               if d.name != "lo" and (d / "mtu").exists()}
    return int((_NET / "lo" / "mtu").read_text()), devices


def _packets(seed: int, count: int, ifindexes: list[int]) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        ifindex = rng.choice([0, 0, 1, 4242, *ifindexes])
        mtu_len = rng.choice([0, 0, 1, 1400, 1486, 1500, 1501, 65536, 65535, 0xFFFFFFF0, rng.randrange(1 << 32)])
        diff = rng.choice([0, 1, -1, 100, -100, 65536 - 40, 1 << 31, (1 << 32) - 20, rng.randrange(1 << 32)])
        flags = rng.choice([0, 0, 0, 1, 0x100])
        body = bytes(rng.choice([0, 20, 40, 60]))
        packets.append(bytes(range(14)) + ifindex.to_bytes(4, "little") + mtu_len.to_bytes(4, "little")
                       + (diff & 0xFFFFFFFF).to_bytes(4, "little") + flags.to_bytes(2, "little") + body)
    return packets


def _config(lo_mtu: int, devices: dict[int, int]) -> RuntimeConfig:
    return RuntimeConfig(mtu=lo_mtu, device_mtus=devices)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("check_mtu"), "check_mtu", SOURCE)


def _outcomes(engine_class, obj, packets, config):
    store = MapStore.for_object(obj, config)
    engine = engine_class(obj.program("check"), store, config)
    results = []
    for packet in packets:
        outcome = observable(engine.run(packet))
        results.append((outcome, store["res"].lookup(bytes(4))))
    return engine, results


@pytest.mark.parametrize("mtu", [1500, 9000])
def test_vm_and_jit_agree(obj, mtu):
    config = _config(mtu, {2: 1500, 3: 9000})
    packets = _packets(17, 150, [2, 3])
    _, want = _outcomes(VmEngine, obj, packets, config)
    jit, got = _outcomes(JitEngine, obj, packets, config)
    assert got == want
    fallbacks = jit.helper_fallbacks()
    assert "bpf_check_mtu" in fallbacks and not any(fallbacks.values()), fallbacks
    answers = {int.from_bytes(value, "little") >> 32 for _, value in want}
    assert answers == {0, 1, (-22) & 0xFFFFFFFF, (-19) & 0xFFFFFFFF}, answers  # fits, too big, flags, no device
    assert {int.from_bytes(value, "little") & 0xFFFFFFFF for _, value in want} >= {mtu, 1500, 9000}


def test_a_device_mtu_must_be_positive():
    with pytest.raises(XdpError, match="device MTU"):
        RuntimeConfig(device_mtus={2: 0})


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_engines_agree_with_the_kernel(obj, engine):
    from xdptool.runtime.engines import make_engine

    lo_mtu, devices = _machine_devices()
    config = _config(lo_mtu, devices)
    packets = _packets(18, 150, sorted(devices))
    runs, dumps = [], []
    for target in ("kernel", engine):
        store = MapStore.for_object(obj, config)
        with make_engine(target, obj.program("check"), store, config) as running:
            runs.append([])
            for packet in packets:
                result = running.run(packet)
                runs[-1].append((result.verdict, result.retval, result.packet, store["res"].lookup(bytes(4))))
        dumps.append(store.dump())
    for index, (kernel, ours) in enumerate(zip(*runs)):
        assert ours == kernel, f"packet {index}: {packets[index].hex()}"
