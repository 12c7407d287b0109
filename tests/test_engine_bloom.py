"""The bloom filter map (runtime/maps_bloom.py, after kernel/bpf/bloom_filter.c): pushes and
peeks of packet-chosen values on a small filter (so false positives happen) with jhash2 (a
16-byte value) and jhash (a 14-byte value), 3 and the default 5 hash functions; with
BPF_F_ZERO_SEED the vm and the jit (natively: runtime/jit/bloom.py, no Python call) agree with the live kernel answer for answer, false
positives included, and flags other than BPF_ANY are -EINVAL alike."""

from __future__ import annotations

import random

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.maps_bloom import bitset_shape, jhash, jhash2
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_BLOOM_FILTER); __uint(max_entries, 6); __uint(map_extra, 3);
         __uint(map_flags, BPF_F_ZERO_SEED); __type(value, __u32[4]); } words SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_BLOOM_FILTER); __uint(max_entries, 9);
         __uint(map_flags, BPF_F_ZERO_SEED); __type(value, __u8[14]); } bytes14 SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } res SEC(".maps");

/* packet byte 14: the operation (bit 0: push, bits 1-2: its flags); 15..30: the value */
SEC("xdp") int bloom(struct xdp_md *ctx)
{
	__u8 a[17] = {};
	__u32 k = 0;
	__u64 *o;
	long r1, r2;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	if (a[0] & 1) {
		r1 = bpf_map_push_elem(&words, &a[1], (a[0] >> 1) & 3);
		r2 = bpf_map_push_elem(&bytes14, &a[1], (a[0] >> 1) & 3);
	} else {
		r1 = bpf_map_peek_elem(&words, &a[1]);
		r2 = bpf_map_peek_elem(&bytes14, &a[1]);
	}
	o = bpf_map_lookup_elem(&res, &k);
	if (o)
		*o = (__u64)(__u32)r1 << 32 | (__u32)r2;
	return r1 == 0 && r2 == 0 ? XDP_TX : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""

_KERNEL = kernel_unavailable_reason()


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    values = [bytes(rng.randrange(4) for _ in range(16)) for _ in range(40)]
    packets = []
    for _ in range(count):
        op = rng.choice([0, 0, 0, 1, 1, 3, 5])
        packets.append(bytes(range(14)) + bytes([op]) + rng.choice(values) + bytes(rng.randrange(8)))
    return packets


PACKETS = _packets(19, 240)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("bloom"), "bloom", SOURCE)


def _run(engine_class, obj):
    store = MapStore.for_object(obj)
    engine = engine_class(obj.program("bloom"), store)
    results = [(observable(engine.run(p)), store["res"].lookup(bytes(4))) for p in PACKETS]
    return engine, results, store.dump()


def test_jhash_known_values():
    """jhash of nothing is its initial value; one word and one byte pass __jhash_final."""
    assert jhash(b"", 0) == 0xDEADBEEF and jhash2(b"", 7) == 0xDEADBEEF + 7
    assert jhash(b"\x01\x00\x00\x00", 0) == jhash2(b"\x01\x00\x00\x00", 0)  # a 4-byte key hashes alike
    assert jhash(bytes(13), 0) != jhash(bytes(12), 0)


def test_bitset_sizes_follow_bloom_map_alloc():
    assert bitset_shape(6, 3) == (63, 8)  # 18 * 7 / 5 = 21 bits -> 64
    assert bitset_shape(100, 5) == (1023, 128)  # 700 -> 1024
    assert bitset_shape(1 << 30, 5) == (0xFFFFFFFF, 1 << 29)  # past 2^31 bits: 2^32


def test_vm_and_jit_agree(obj):
    _, want, vm_maps = _run(VmEngine, obj)
    jit, got, jit_maps = _run(JitEngine, obj)
    assert got == want and jit_maps == vm_maps
    fallbacks = jit.helper_fallbacks()
    assert {"bpf_map_push_elem", "bpf_map_peek_elem"} <= set(fallbacks) and not any(fallbacks.values()), fallbacks
    batch_store = MapStore.for_object(obj)
    batched = JitEngine(obj.program("bloom"), batch_store).run_batch(PACKETS)
    assert [observable(r) for r in batched] == [o for o, _ in want] and batch_store.dump() == vm_maps
    answers = {int.from_bytes(value, "little") & 0xFFFFFFFF for _, value in want}
    assert {0, (-2) & 0xFFFFFFFF, (-22) & 0xFFFFFFFF} <= answers, answers  # maybe, never, bad flags
    assert set(vm_maps["words"][0]) == {"key", "value"} and len(vm_maps["words"][0]["value"]) == 16


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_engines_agree_with_the_kernel(obj, engine):
    from xdptool.runtime.engines import make_engine

    runs = []
    for target in ("kernel", engine):
        store = MapStore.for_object(obj)
        with make_engine(target, obj.program("bloom"), store) as running:
            runs.append([])
            for packet in PACKETS:
                result = running.run(packet)
                runs[-1].append((result.verdict, result.packet, store["res"].lookup(bytes(4))))
    for index, (kernel, ours) in enumerate(zip(*runs)):
        assert ours == kernel, f"packet {index}: {PACKETS[index].hex()}"


def test_the_small_filters_give_false_positives(obj):
    """Peeks of values never pushed that answer 0: what the kernel comparison holds bit for bit."""
    _, results, _ = _run(VmEngine, obj)
    pushed, false_positives = set(), 0
    for packet, (_, value) in zip(PACKETS, results):
        op, item = packet[14], packet[15:31]
        if op == 1:
            pushed.add(item)
        elif op == 0 and item not in pushed and int.from_bytes(value, "little") == 0:
            false_positives += 1
    assert false_positives > 3, false_positives
