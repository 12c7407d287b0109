"""lpm_trie lookups, updates and deletes as native code in the jit (jit/lpm.py over the index
LpmTrieMap keeps in its buffer): a sequence of updates (flags BPF_ANY/NOEXIST/EXIST and bad
ones), deletes and lookups the packets choose, on an IPv4 and an IPv6 trie and a 3-entry trie
that fills up, answers the same on the vm, the jit (no call through Python) and the live
kernel (BPF_PROG_TEST_RUN), maps included: the longest stored prefix that matches, none past
the key's prefixlen, a prefixlen beyond the trie's width a miss (-EINVAL for updates and
deletes), -EEXIST/-ENOENT for the flags, -ENOSPC on a full trie, -ENOENT deleting a missing
prefix."""

from __future__ import annotations

import errno
import random

import pytest

from engine_diff import agrees_with_the_kernel, jit_agrees_with_vm
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.jit import JitEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct key4 { __u32 plen; __u8 addr[4]; };
struct key6 { __u32 plen; __u8 addr[16]; };
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 64); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct key4); __type(value, __u32); } trie4 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 64); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct key6); __type(value, __u64); } trie6 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 3); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct key4); __type(value, __u32); } small SEC(".maps");

/* byte 14: the operation; 15: the prefixlen; 16..31: the address; 32: the value; 41: update
   flags. The answer goes to bytes 33..40 (XDP_TX). */
SEC("xdp") int lpm(struct xdp_md *ctx)
{
	__u8 a[19], flags;
	struct key4 k4 = {};
	struct key6 k6 = {};
	__u64 answer = 0xeeee, v6;
	__u32 v4, *p4;
	__u64 *p6;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)) || bpf_xdp_load_bytes(ctx, 41, &flags, 1))
		return XDP_PASS;
	k4.plen = k6.plen = a[1];
	__builtin_memcpy(k4.addr, a + 2, 4);
	__builtin_memcpy(k6.addr, a + 2, 16);
	v4 = a[18];
	v6 = (__u64)a[18] << 40 | 6;
	switch (a[0] % 9) {
	case 0:
		p4 = bpf_map_lookup_elem(&trie4, &k4);
		answer = p4 ? *p4 : 0xffff;
		if (p4)
			*p4 += 1;
		break;
	case 1:
		answer = bpf_map_update_elem(&trie4, &k4, &v4, flags);
		break;
	case 2:
		answer = bpf_map_delete_elem(&trie4, &k4);
		break;
	case 3:
		p6 = bpf_map_lookup_elem(&trie6, &k6);
		answer = p6 ? *p6 : 0xffff;
		break;
	case 4:
		answer = bpf_map_update_elem(&trie6, &k6, &v6, flags);
		break;
	case 5:
		answer = bpf_map_delete_elem(&trie6, &k6);
		break;
	case 6:
		answer = bpf_map_update_elem(&small, &k4, &v4, flags);
		break;
	case 7:
		answer = bpf_map_delete_elem(&small, &k4);
		break;
	default:
		p4 = bpf_map_lookup_elem(&small, &k4);
		answer = p4 ? *p4 : 0xffff;
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
        op = rng.choice([1, 4, 6] * 3 + [0, 3, 8] * 4 + [2, 5, 7]) if n > 12 else (1 if n % 2 else 4)
        plen, hex_addr = rng.choice(PREFIXES)
        addr = bytearray(bytes.fromhex(hex_addr).ljust(16, b"\0"))
        if op in (0, 3):  # lookups: a longer key under a stored prefix, now and then a stray bit
            plen = rng.choice([plen, 32 if op == 0 else 128, min(plen + 3, 255), 200])
            addr[rng.randrange(16)] ^= rng.choice([0, 0, 1, 0x80])
        flags = rng.choice([0, 0, 0, 0, 1, 2, 3, 4]) if n > 12 else 0
        packets.append(bytes(range(14)) + bytes([op, plen]) + bytes(addr) + bytes([rng.randrange(256)]) + bytes(8)
                       + bytes([flags, 0]))
    return packets


PACKETS = _packets(16, 360)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("lpm"), "lpm", SOURCE)


def test_vm_and_jit_agree_with_no_python_call(obj):
    jit, want = jit_agrees_with_vm(obj, "lpm", PACKETS)  # one at a time and in the packet loop
    answers = [int.from_bytes(o[2][33:41], "little", signed=True) for o in want]
    assert 0xffff in answers and any(0 < a < 256 for a in answers[13:])  # misses and hits
    assert {-errno.EINVAL, -errno.EEXIST, -errno.ENOENT, -errno.ENOSPC} <= set(answers)
    assert not any(jit.helper_fallbacks().values()), jit.helper_fallbacks()


def test_user_space_and_native_changes_see_each_other(obj):
    """--maps-in entries (LpmTrieMap.update) are found by native lookups, and what native code
    inserts and deletes is what a dump shows and what Python's lookups find (the index dict
    rebuilt from the buffer)."""
    from xdptool.runtime.maps import MapStore

    store = MapStore.for_object(obj)
    trie4 = store["trie4"]
    key = (8).to_bytes(4, "little") + bytes.fromhex("0a0b0c0d")  # the data as given, past the prefix
    assert trie4.update(key, (77).to_bytes(4, "little")) == 0
    engine = JitEngine(obj.program("lpm"), store)
    lookup = bytes(range(14)) + bytes([0, 32]) + bytes.fromhex("0a010203").ljust(16, b"\0") + bytes(10) + bytes(2)
    assert int.from_bytes(engine.run(lookup).packet[33:41], "little") == 77
    insert = bytes(range(14)) + bytes([1, 16]) + bytes.fromhex("0a01ffff").ljust(16, b"\0") + bytes([5]) + bytes(10)
    assert engine.run(insert).packet[33:41] == bytes(8)
    assert trie4.lookup_offset((32).to_bytes(4, "little") + bytes.fromhex("0a010909")) is not None
    assert [e["key"] for e in store.dump()["trie4"]] == [key.hex(), "100000000a01ffff"]
    delete = bytes(range(14)) + bytes([2, 8]) + bytes.fromhex("0a").ljust(16, b"\0") + bytes(12)
    assert engine.run(delete).packet[33:41] == bytes(8)
    assert [e["key"] for e in store.dump()["trie4"]] == ["100000000a01ffff"]
    assert trie4.find_offset(key) is None and trie4.delete(key) == -errno.ENOENT
    # the last delete leaves no tombstone behind (the table all empty again), natively and in Python
    last = bytes(range(14)) + bytes([2, 16]) + bytes.fromhex("0a01").ljust(16, b"\0") + bytes(12)
    assert engine.run(last).packet[33:41] == bytes(8) and store.dump()["trie4"] == []
    table = trie4.buffer[trie4.shape.table:trie4.shape.size]
    assert not any(table)
    for n in range(40):  # Python's inserts and deletes, then the jit's lookups see the same trie
        assert trie4.update((32).to_bytes(4, "little") + bytes([10, 1, 2, n]), bytes([n, 0, 0, 0])) == 0
        if n % 3:
            assert trie4.delete((32).to_bytes(4, "little") + bytes([10, 1, 2, n - 1])) in (0, -errno.ENOENT)
    for n in range(40):
        stored = trie4.lookup((32).to_bytes(4, "little") + bytes([10, 1, 2, n]))  # (the program adds 1)
        probe = bytes(range(14)) + bytes([0, 32, 10, 1, 2, n]) + bytes(12) + bytes(12)
        found = int.from_bytes(engine.run(probe).packet[33:41], "little")
        assert found == (0xffff if stored is None else int.from_bytes(stored, "little")), n


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_engines_agree_with_the_kernel(obj, engine):
    agrees_with_the_kernel(obj, "lpm", engine, PACKETS)
