"""lpm_trie lookups as native code in the jit (maps.py _lpm_lookup over LpmTrieMap.native_index):
a sequence of updates, deletes (the Python helpers, which rebuild the index) and lookups the
packets choose, on an IPv4 and an IPv6 trie, answers the same on the vm, the jit (no lookup
through Python) and the live kernel (BPF_PROG_TEST_RUN): the longest stored prefix that
matches, none past the key's prefixlen, a key prefixlen beyond the trie's width a miss."""

from __future__ import annotations

import random

import pytest

from engine_diff import agrees_with_the_kernel, outcomes
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct key4 { __u32 plen; __u8 addr[4]; };
struct key6 { __u32 plen; __u8 addr[16]; };
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 64); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct key4); __type(value, __u32); } trie4 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 64); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct key6); __type(value, __u64); } trie6 SEC(".maps");

/* byte 14: the operation; 15: the prefixlen; 16..31: the address; 32: the value.
   The answer goes to bytes 33..40 (XDP_TX). */
SEC("xdp") int lpm(struct xdp_md *ctx)
{
	__u8 a[19];
	struct key4 k4 = {};
	struct key6 k6 = {};
	__u64 answer = 0xeeee, v6;
	__u32 v4, *p4;
	__u64 *p6;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	k4.plen = k6.plen = a[1];
	__builtin_memcpy(k4.addr, a + 2, 4);
	__builtin_memcpy(k6.addr, a + 2, 16);
	v4 = a[18];
	v6 = (__u64)a[18] << 40 | 6;
	switch (a[0] % 6) {
	case 0:
		p4 = bpf_map_lookup_elem(&trie4, &k4);
		answer = p4 ? *p4 : 0xffff;
		if (p4)
			*p4 += 1;
		break;
	case 1:
		answer = bpf_map_update_elem(&trie4, &k4, &v4, 0);
		break;
	case 2:
		answer = bpf_map_delete_elem(&trie4, &k4);
		break;
	case 3:
		p6 = bpf_map_lookup_elem(&trie6, &k6);
		answer = p6 ? *p6 : 0xffff;
		break;
	case 4:
		answer = bpf_map_update_elem(&trie6, &k6, &v6, 0);
		break;
	default:
		answer = bpf_map_delete_elem(&trie6, &k6);
		break;
	}
	bpf_xdp_store_bytes(ctx, 33, &answer, sizeof(answer));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""

_KERNEL = kernel_unavailable_reason()
PREFIXES = [(8, "0a"), (16, "0a01"), (24, "0a0102"), (32, "0a010203"), (12, "c0a8"), (0, ""), (31, "0a010202"),
            (7, "fe"), (64, "20010db800000001"), (48, "20010db80000"), (128, "20010db8000000010000000000000001"),
            (33, "0a010203ff"), (129, "20010db8")]


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for n in range(count):
        op = rng.choice([1, 4] * 3 + [0, 3] * 4 + [2, 5]) if n > 12 else (1 if n % 2 else 4)
        plen, hex_addr = rng.choice(PREFIXES)
        addr = bytearray(bytes.fromhex(hex_addr).ljust(16, b"\0"))
        if op in (0, 3):  # lookups: a longer key under a stored prefix, now and then a stray bit
            plen = rng.choice([plen, 32 if op == 0 else 128, min(plen + 3, 255), 200])
            addr[rng.randrange(16)] ^= rng.choice([0, 0, 1, 0x80])
        packets.append(bytes(range(14)) + bytes([op, plen]) + bytes(addr) + bytes([rng.randrange(256)]) + bytes(10))
    return packets


PACKETS = _packets(16, 240)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("lpm"), "lpm", SOURCE)


def test_vm_and_jit_agree_and_lookups_are_native(obj):
    _, want, vm_maps = outcomes(VmEngine, obj, "lpm", PACKETS)
    for batch in (False, True):
        jit, got, jit_maps = outcomes(JitEngine, obj, "lpm", PACKETS, batch)
        assert got == want and jit_maps == vm_maps
    answers = [int.from_bytes(o[2][33:41], "little") for o in want]
    assert 0xffff in answers and any(a < 256 for a in answers[13:])  # misses and hits
    lookups = sum(p[14] % 3 == 0 for p in PACKETS)
    updates = len(PACKETS) - lookups
    assert jit.helper_fallbacks()["bpf_map_lookup_elem"] == 0
    assert 0 < jit.helper_fallbacks()["bpf_map_update_elem"] + jit.helper_fallbacks()["bpf_map_delete_elem"] <= updates


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_engines_agree_with_the_kernel(obj, engine):
    agrees_with_the_kernel(obj, "lpm", engine, PACKETS)
