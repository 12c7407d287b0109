"""The number iterator kfuncs (bpf_iter_num_new/_next/_destroy: runtime/kfuncs.py, native in the
jit through runtime/jit/iters.py): ranges chosen by packet bytes, so -EINVAL (start > end),
-E2BIG (more than BPF_MAX_LOOPS values), empty ranges, ranges at INT_MIN/INT_MAX and early
breaks are all run; the vm and the jit agree with no call going through Python, and both agree
with the live kernel (BPF_PROG_TEST_RUN) on verdict, bytes and maps."""

from __future__ import annotations

import random

import pytest

from engine_diff import agrees_with_the_kernel, jit_agrees_with_vm, outcomes
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* include/uapi/linux/bpf.h of Linux 6.4+ (this libc's headers predate it) */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u64); } res SEC(".maps");

static __always_inline void put(__u32 k, __u64 v)
{
	__u64 *o = bpf_map_lookup_elem(&res, &k);
	if (o)
		*o = v;
}

/* packet bytes 14..22: start and end (big-endian ints), the byte to stop at */
SEC("xdp") int iter_range(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	__u8 a[9] = {};
	int start, end, *v, r;
	__u64 sum = 0, count = 0, last = 0;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	start = (int)((__u32)a[0] << 24 | (__u32)a[1] << 16 | (__u32)a[2] << 8 | a[3]);
	end = (int)((__u32)a[4] << 24 | (__u32)a[5] << 16 | (__u32)a[6] << 8 | a[7]);
	r = bpf_iter_num_new(&it, start, end);
	while ((v = bpf_iter_num_next(&it))) {
		last = (__u32)*v;
		sum += *v;
		count++;
		if ((*v & 0xff) == a[8])
			break;
	}
	/* after the end (or a failed new) next keeps answering NULL; after a break it goes on */
	v = bpf_iter_num_next(&it);
	bpf_iter_num_destroy(&it);
	put(0, (__u64)(__u32)r << 32 | (v != 0));
	put(1, count);
	put(2, last);
	put(3, sum);
	return a[8] & 1 ? XDP_TX : XDP_PASS;
}

/* a nested pair of iterators writing packet bytes: bytes 14, 15 are the two counts */
SEC("xdp") int iter_nested(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data;
	struct bpf_iter_num outer;
	int *i, *j;

	if (data + 16 > data_end)
		return XDP_DROP;
	bpf_iter_num_new(&outer, 0, p[14] & 7);
	while ((i = bpf_iter_num_next(&outer))) {
		struct bpf_iter_num inner;
		bpf_iter_num_new(&inner, 0, p[15] & 7);
		while ((j = bpf_iter_num_next(&inner))) {
			__u32 at = (__u32)(*i * 2 + *j) & 15;
			if (data + at + 1 > data_end)
				break;
			p[at] += 1;
		}
		bpf_iter_num_destroy(&inner);
	}
	bpf_iter_num_destroy(&outer);
	return XDP_TX;
}

/* not for the kernel: an iterator pointer that points nowhere faults in both engines alike */
SEC("xdp") int bad_iterator(struct xdp_md *ctx)
{
	return bpf_iter_num_next((struct bpf_iter_num *)8) != 0;
}

char _license[] SEC("license") = "GPL";
"""

_KERNEL = kernel_unavailable_reason()
_EDGES = [0, 1, 2, 3, 5, 100, -1, -2, -100, 0x7FFFFFFF, 0x7FFFFFFE, -0x80000000, -0x7FFFFFFF, 1 << 23,
          (1 << 23) + 1, -(1 << 22)]


def _ranges(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        start = rng.choice(_EDGES + [rng.randrange(-300, 300)])
        end = rng.choice([start, start + 1, start + rng.randrange(0, 300), start - 1, rng.choice(_EDGES),
                          start + (1 << 23), start + (1 << 23) + 1])
        end = (end + (1 << 31)) % (1 << 32) - (1 << 31)
        args = start.to_bytes(4, "big", signed=True) + end.to_bytes(4, "big", signed=True)
        args += bytes([rng.choice([0, 7, 255, rng.randrange(256)])])
        packets.append(bytes(range(14)) + args + bytes(rng.randrange(0, 40)))
    return packets


PACKETS = _ranges(16, 120)
PROGRAMS = ["iter_range", "iter_nested"]


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("iter_num"), "iter_num", SOURCE)


@pytest.mark.parametrize("name", PROGRAMS)
def test_vm_and_jit_agree_with_no_python_call(obj, name):
    jit, want = jit_agrees_with_vm(obj, name, PACKETS)
    assert all(o[4] is None for o in want)
    fallbacks = jit.helper_fallbacks()
    assert {"bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy"} <= set(fallbacks), fallbacks
    assert not any(fallbacks.values()), fallbacks


def test_the_ranges_reach_every_answer(obj):
    """The packets are not all alike: new answers 0, -EINVAL and -E2BIG, loops run and break."""
    store = MapStore.for_object(obj)
    engine = VmEngine(obj.program("iter_range"), store)
    errors, counts, after = set(), set(), set()
    for packet in PACKETS:
        engine.run(packet)
        word = int.from_bytes(store["res"].lookup((0).to_bytes(4, "little")), "little")
        after.add(word & 1)
        errors.add((word >> 32) - (1 << 32) if word >> 63 else word >> 32)
        counts.add(int.from_bytes(store["res"].lookup((1).to_bytes(4, "little")), "little"))
    assert errors == {0, -22, -7}, errors
    assert after == {0, 1}
    assert 0 in counts and 1 in counts and max(counts) > 200, sorted(counts)


def test_a_bad_iterator_pointer_faults_alike(obj):
    _, want, _ = outcomes(VmEngine, obj, "bad_iterator", PACKETS[:2])
    _, got, _ = outcomes(JitEngine, obj, "bad_iterator", PACKETS[:2])
    assert got == want
    assert want[0][0] == "XDP_ABORTED" and want[0][4] is not None, want[0]


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_engines_agree_with_the_kernel(obj, name, engine):
    agrees_with_the_kernel(obj, name, engine, PACKETS)
