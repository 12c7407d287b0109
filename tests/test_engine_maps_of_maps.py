"""array_of_maps and hash_of_maps (runtime/maps_of_maps.py): slots filled from the object's
`.values` initialisers, a program looks an inner map up by a packet-chosen index or key (empty
slots and missing keys give NULL), then looks up and updates the inner map through the pointer
it got; the vm and the jit agree, and both agree with the live kernel (its slots filled with the
inner maps' fds, as libbpf fills them) on verdict, bytes and maps.  The jit looks the outer maps
up natively too (no Python call)."""

from __future__ import annotations

import random

import pytest

from engine_diff import agrees_with_the_kernel, jit_agrees_with_vm
from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.errors import XdpError
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
               __type(key, __u32); __type(value, __u64); };
struct inner inner_a SEC(".maps"), inner_b SEC(".maps"), inner_c SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner);
} outer_array SEC(".maps") = { .values = { [0] = &inner_a, [2] = &inner_b } };

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = { .values = { [1] = &inner_c, [3] = &inner_a } };

/* packet bytes 14..16: which outer map, the outer key, the inner key */
SEC("xdp") int nested(struct xdp_md *ctx)
{
	__u8 a[3] = {};
	__u32 outer_key, inner_key;
	__u64 *v;
	void *m;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	outer_key = a[1] & 7;
	inner_key = a[2] & 7;
	m = a[0] & 1 ? bpf_map_lookup_elem(&outer_hash, &outer_key) : bpf_map_lookup_elem(&outer_array, &outer_key);
	if (!m)
		return XDP_DROP;
	v = bpf_map_lookup_elem(m, &inner_key);
	if (!v)
		return XDP_ABORTED;
	*v += a[2] + 1;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""

_KERNEL = kernel_unavailable_reason()


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(range(14)) + bytes(rng.randrange(256) for _ in range(3)) + bytes(rng.randrange(20))
            for _ in range(count)]


PACKETS = _packets(20, 200)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("maps_of_maps"), "maps_of_maps", SOURCE)


def _run(engine_class, obj):
    store = MapStore.for_object(obj)
    engine = engine_class(obj.program("nested"), store)
    return engine, [observable(engine.run(p)) for p in PACKETS], store.dump()


def test_the_slots_come_from_the_initialisers(obj):
    store = MapStore.for_object(obj)
    index = {name: i.to_bytes(4, "little").hex() for i, name in enumerate(store)}
    assert store.dump()["outer_array"] == [{"key": "00000000", "value": index["inner_a"]},
                                           {"key": "02000000", "value": index["inner_b"]}]
    assert {e["value"] for e in store.dump()["outer_hash"]} == {index["inner_c"], index["inner_a"]}
    # an update naming a map unlike the template (or none) is -EINVAL, as the kernel's
    assert store["outer_array"].update(bytes(4), store.index_of("outer_hash").to_bytes(4, "little")) == -22
    assert store["outer_array"].update(bytes(4), (99).to_bytes(4, "little")) == -22


def test_vm_and_jit_agree_with_no_python_call(obj):
    jit, want = jit_agrees_with_vm(obj, "nested", PACKETS)  # one at a time and in the packet loop
    assert not any(jit.helper_fallbacks().values()), jit.helper_fallbacks()  # the outer lookups native too
    _, _, vm_maps = _run(VmEngine, obj)
    assert {o[0] for o in want} == {"XDP_TX", "XDP_DROP", "XDP_ABORTED"}
    assert all(o[4] is None for o in want)
    assert all(any(int(e["value"], 16) for e in vm_maps[name]) for name in ("inner_a", "inner_b", "inner_c"))


def test_an_unknown_inner_map_name_is_bad_input(obj):

    maps = dict(obj.maps)
    maps["outer_array"] = maps["outer_array"].replace(extra={"values": {0: "nowhere"}})
    with pytest.raises(XdpError, match="unknown map 'nowhere'"):
        MapStore(maps)


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_engines_agree_with_the_kernel(obj, engine):
    agrees_with_the_kernel(obj, "nested", engine, PACKETS, lambda dump: {n: e for n, e in dump.items() if n.startswith("inner")})
