"""bpf_fib_lookup as native code in the jit (runtime/jit/fib.py) over the configured routes:
families, prefixes of every length (ties in the table's order), tot_len against a route's mtu
(FRAG_NEEDED writes the mtu), bad flags and sizes, unknown families -- the answers and the
struct the program gets back are the vm's, with no call through Python.  The vm's helper is
held to its table (test_runtime_helpers.py); the kernel answers from its own routing table,
so it is no reference here."""

from __future__ import annotations

import random

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.runtime.config import FibRoute, RuntimeConfig
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* bytes 14..77: the struct bpf_fib_lookup; 78: flags; 79: the size passed.  Back: r0 at 14..21
   and the struct after the call at 22..85 */
SEC("xdp") int fib(struct xdp_md *ctx)
{
	struct bpf_fib_lookup p;
	__u8 a[2];
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, &p, sizeof(p)) || bpf_xdp_load_bytes(ctx, 78, a, sizeof(a)))
		return XDP_PASS;
	r = bpf_fib_lookup(ctx, &p, a[1] ? sizeof(p) : 60, a[0] & 0x7f);
	bpf_xdp_store_bytes(ctx, 14, &r, sizeof(r));
	bpf_xdp_store_bytes(ctx, 22, &p, sizeof(p));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""

ROUTES = [FibRoute("10.0.0.0/8", 2, "02:00:00:00:00:01", "02:00:00:00:00:aa"),
          FibRoute("10.2.0.0/16", 3, dmac="02:00:00:00:00:bb", mtu=200),
          FibRoute("10.2.3.0/24", 4, dmac="02:00:00:00:00:cc"), FibRoute("10.2.3.0/24", 5),
          FibRoute("0.0.0.0/0", 9, dmac="02:00:00:00:00:99", mtu=9000),
          FibRoute("2001:db8::/32", 6, dmac="02:00:00:00:00:66"), FibRoute("2001:db8:0:1::/64", 7, mtu=1280),
          FibRoute("10.2.3.4/32", 8, smac="0a:0b:0c:0d:0e:0f", mtu=100)]
DESTINATIONS = [(2, "0a020304"), (2, "0a020305"), (2, "0a0203ff"), (2, "0a02ff01"), (2, "0a7f0001"), (2, "c0a80101"),
                (10, "20010db8000000010000000000000001"), (10, "20010db8ffff00000000000000000001"),
                (10, "fe800000000000000000000000000001"), (7, "0a020304"), (0, "")]


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        family, dst = rng.choice(DESTINATIONS)
        params = bytearray(rng.randrange(256) for _ in range(64))
        params[0] = family
        params[6:8] = rng.choice([60, 150, 250, 1300, 1500, 9001]).to_bytes(2, "little")
        params[32:48] = bytes.fromhex(dst).ljust(16, b"\0") if family == 10 else bytes.fromhex(dst).ljust(16, b"\xee")
        flags = rng.choice([0, 0, 0, 1, 4, 0x40])
        packets.append(bytes(range(14)) + bytes(params) + bytes([flags, rng.choice([1, 1, 1, 0])]) + bytes(12))
    return packets


PACKETS = _packets(69, 160)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("fib"), "fib", SOURCE)


@pytest.mark.parametrize("routes", [ROUTES, []], ids=["routes", "no_routes"])
def test_vm_and_jit_agree_with_no_python_call(obj, routes):
    config = RuntimeConfig(fib_table=routes)
    outcomes = []
    for engine_class, batch in ((VmEngine, False), (JitEngine, False), (JitEngine, True)):
        engine = engine_class(obj.program("fib"), MapStore.for_object(obj, config), config)
        results = engine.run_batch(PACKETS) if batch else [engine.run(p) for p in PACKETS]
        outcomes.append([observable(r) for r in results])
    assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]
    assert engine.helper_fallbacks()["bpf_fib_lookup"] == 0
    answers = {int.from_bytes(o[2][14:22], "little", signed=True) for o in outcomes[0]}
    assert answers >= ({0, 4, 8, -22, -97} if routes else {4, -22, -97}), answers
