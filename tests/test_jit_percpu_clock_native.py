"""bpf_map_lookup_percpu_elem (per-CPU array, hash and LRU hash: the copy of the CPU asked
for, NULL from nr_cpu_ids on), bpf_ktime_get_coarse_ns / _tai_ns (the deterministic clock
every ktime helper reads) and bpf_get_numa_node_id (config.numa_node) in the engines: the
jit runs them natively and agrees with the vm, with 4 CPUs configured."""

from __future__ import annotations

import random

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u64); } pa SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u64); } ph SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u64); } pl SEC(".maps");

/* byte 14: the key, 15: the CPU asked for (255: 2**32 - 1).  Answers at 20.. */
SEC("xdp") int percpu(struct xdp_md *ctx)
{
	__u8 a[2];
	__u64 out[6] = {}, one = 1, *v;
	__u32 key, cpu;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	key = a[0] & 7;
	cpu = a[1] == 255 ? 0xffffffff : a[1] & 7;
	bpf_map_update_elem(&ph, &key, &one, BPF_NOEXIST);
	bpf_map_update_elem(&pl, &key, &one, BPF_NOEXIST);
	v = bpf_map_lookup_elem(&pa, &key);
	if (v)
		*v += key + 1;
	v = bpf_map_lookup_percpu_elem(&pa, &key, cpu);
	out[0] = v ? *v + 1 : 0;
	if (v)
		*v += 100;
	v = bpf_map_lookup_percpu_elem(&ph, &key, cpu);
	out[1] = v ? *v + 1 : 0;
	if (v)
		*v += 1000;
	v = bpf_map_lookup_percpu_elem(&pl, &key, cpu);
	out[2] = v ? *v + 1 : 0;
	out[3] = bpf_ktime_get_coarse_ns();
	out[4] = bpf_ktime_get_tai_ns() - bpf_ktime_get_ns();
	out[5] = bpf_get_numa_node_id();
	bpf_xdp_store_bytes(ctx, 20, out, sizeof(out));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""

CONFIG = RuntimeConfig(ncpus=4, cpu=2, numa_node=1)


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(range(14)) + bytes([rng.randrange(12), rng.choice([0, 1, 2, 3, 4, 7, 255])]) + bytes(60)
            for _ in range(count)]


PACKETS = _packets(195, 120)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("percpu"), "percpu", SOURCE)


def test_vm_and_jit_agree_natively(obj):
    outcomes = []
    for engine_class, batch in ((VmEngine, False), (JitEngine, False), (JitEngine, True)):
        store = MapStore.for_object(obj, CONFIG)
        engine = engine_class(obj.program("percpu"), store, CONFIG)
        results = engine.run_batch(PACKETS) if batch else [engine.run(p) for p in PACKETS]
        outcomes.append(([observable(r) for r in results], store.dump()))
    assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]
    assert not any(engine.helper_fallbacks().values()), engine.helper_fallbacks()
    answers = [[int.from_bytes(o[2][20 + 8 * k:28 + 8 * k], "little") for k in range(6)] for o in outcomes[0][0]]
    assert {a[5] for a in answers} == {1}
    assert any(a[0] == 0 for a in answers) and any(a[0] > 1 for a in answers)  # NULL past the CPUs; values
