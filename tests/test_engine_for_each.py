"""bpf_for_each_map_elem (runtime/helpers.py, Map.each; native in the jit: runtime/jit/foreach.py)
on arrays, per-CPU arrays and hash maps: the callback sees each element's key and value (the
key in the caller's depth's key region, the value pointer the element's own), may write the
value, delete the element it is given, stop the walk; the return value counts the elements
visited.  vm == jit (run and packet loop, no Python call) on everything a program can observe,
pointers included, and both == the live kernel wherever the order of a hash map's walk cannot
show (the kernel walks its buckets)."""

from __future__ import annotations

import random

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.engines import make_engine
from xdptool.runtime.maps import MapStore

_KERNEL = kernel_unavailable_reason()

# walk_array, walk_percpu, walk_hash, walk_growing (a hash walk whose callback inserts) and
# walk_nested (a hash walk in each array element's callback).  Byte 15: the element the walk
# stops at (0: none); 16..19: a key inserted into the hash first (0: none); 20: keys to delete
# (key % 4 == this).  Back from 14: r0, the callbacks' sum of values, of keys, elements seen,
# the key pointer the first callback got (its region: vm == jit only).
SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 16);
         __type(key, __u32); __type(value, __u64); } arr SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u64); } pcpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 64);
         __type(key, __u32); __type(value, __u64); } h SEC(".maps");

struct walk { __u64 sum, keys, seen, first_key; __u32 stop_at, drop, inserts, pad; };

static long on_hash(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	__u64 one = 1;
	__u32 k = *key + 1000;

	w->sum += *val;
	w->keys += *key * 2654435761u;
	w->seen++;
	*val += 3;
	if (!w->first_key)
		w->first_key = (__u64)(long)key;
	if (w->drop && (*key & 3) == (w->drop & 3))
		bpf_map_delete_elem(map, key);
	if (w->inserts && *key < 1000) {
		w->inserts--;
		bpf_map_update_elem(map, &k, &one, BPF_NOEXIST);
	}
	return 0;
}

static long on_array(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	w->sum += *val;
	w->keys += *key * 2654435761u;
	w->seen++;
	*val += *key + 1;
	if (!w->first_key)
		w->first_key = (__u64)(long)key;
	return w->stop_at && w->seen == w->stop_at;
}

static long nested(void *map, __u32 *key, __u64 *val, struct walk *w)
{
	struct walk inner = {};

	w->seen++;
	w->sum += bpf_for_each_map_elem(&h, on_hash, &inner, 0);
	w->keys += inner.keys + *key;
	if (!w->first_key)
		w->first_key = (__u64)(long)key;
	return w->seen == 3;
}

static __always_inline int walk(struct xdp_md *ctx, int what)
{
	struct walk w = {};
	__u8 stop, drop;
	__u32 insert;
	__u64 one = 7, out[5];
	long r;

	if (bpf_xdp_load_bytes(ctx, 15, &stop, 1) || bpf_xdp_load_bytes(ctx, 16, &insert, 4) ||
	    bpf_xdp_load_bytes(ctx, 20, &drop, 1))
		return XDP_PASS;
	w.stop_at = stop;
	w.drop = drop;
	if (insert)
		bpf_map_update_elem(&h, &insert, &one, BPF_ANY);
	if (what == 0)
		r = bpf_for_each_map_elem(&arr, on_array, &w, 0);
	else if (what == 1)
		r = bpf_for_each_map_elem(&pcpu, on_array, &w, 0);
	else if (what == 2)
		r = bpf_for_each_map_elem(&h, on_hash, &w, 0);
	else if (what == 3) {
		w.inserts = 3;
		w.drop = 0;
		r = bpf_for_each_map_elem(&h, on_hash, &w, 0);
	} else
		r = bpf_for_each_map_elem(&arr, nested, &w, 0);
	out[0] = r, out[1] = w.sum, out[2] = w.keys, out[3] = w.seen, out[4] = w.first_key;
	bpf_xdp_store_bytes(ctx, 14, out, sizeof(out));
	return XDP_TX;
}

SEC("xdp") int walk_array(struct xdp_md *ctx) { return walk(ctx, 0); }
SEC("xdp") int walk_percpu(struct xdp_md *ctx) { return walk(ctx, 1); }
SEC("xdp") int walk_hash(struct xdp_md *ctx) { return walk(ctx, 2); }
SEC("xdp") int walk_growing(struct xdp_md *ctx) { return walk(ctx, 3); }
SEC("xdp") int walk_nested(struct xdp_md *ctx) { return walk(ctx, 4); }

char _license[] SEC("license") = "GPL";
"""


PROGRAMS = ["walk_array", "walk_percpu", "walk_hash", "walk_growing", "walk_nested"]


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        stop = rng.choice([0, 0, 1, 3, 16, 20])
        insert = rng.choice([0, rng.randrange(1, 200), rng.randrange(1 << 32)])
        drop = rng.choice([0, 0, 0, 5, 6, 7, 8])
        packets.append(bytes(range(14)) + bytes([0, stop]) + insert.to_bytes(4, "little") + bytes([drop]) + bytes(40))
    return packets


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("for_each"), "for_each", SOURCE)


def _run(target: str, obj, program: str, packets, batch: bool = False, config=None):
    config = config or RuntimeConfig(ncpus=2, cpu=1)
    store = MapStore.for_object(obj, config)
    with make_engine(target, obj.program(program), store, config) as engine:
        results = engine.run_batch(packets) if batch else [engine.run(p) for p in packets]
        fallbacks = engine.helper_fallbacks() if target == "jit" else {}
    return results, store.dump(), fallbacks


@pytest.mark.parametrize("program", PROGRAMS)
def test_vm_and_jit_agree_with_no_python_call(obj, program):
    packets = _packets(3, 60)
    vm_results, vm_maps, _ = _run("vm", obj, program, packets)
    for batch in (False, True):
        results, maps, fallbacks = _run("jit", obj, program, packets, batch)
        assert [observable(r) for r in results] == [observable(r) for r in vm_results]
        assert maps == vm_maps
        assert fallbacks["bpf_for_each_map_elem"] == 0, fallbacks
    returns = {int.from_bytes(r.packet[14:22], "little", signed=True) for r in vm_results}
    expected = {"walk_array": {1, 3, 16}, "walk_percpu": {1, 3, 8}, "walk_nested": {3}}.get(program, set())
    assert expected <= returns and (len(returns) > 2 or program == "walk_nested"), returns  # stops, whole walks


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("program", ["walk_array", "walk_percpu", "walk_hash"])  # inserts: order; nested: too complex
def test_engines_agree_with_the_kernel(obj, program):
    packets = _packets(4, 60)
    config = RuntimeConfig(ncpus=2, cpu=1)
    ours, our_maps, _ = _run("jit", obj, program, packets, config=config)
    kernel, kernel_maps, _ = _run("kernel", obj, program, packets, config=config)
    for index, (mine, theirs) in enumerate(zip(ours, kernel)):
        assert (mine.verdict, mine.packet[:46]) == (theirs.verdict, theirs.packet[:46]), f"packet {index}"  # no key pointer
    assert our_maps == kernel_maps
