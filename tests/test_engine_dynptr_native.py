"""The dynptr kfuncs and helpers as native code in the jit (runtime/jit/dynptr.py): driven by
packet bytes through every branch (null dynptrs, adjust's -EINVAL/-ERANGE, slices in the
packet, copied to the buffer or refused, reads and writes past the end, flags, clones, local
dynptrs over a map value), the vm and the jit agree with each other with no call going
through Python, and both agree with the live kernel (BPF_PROG_TEST_RUN) on verdict, bytes
and maps."""

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

extern int bpf_dynptr_from_xdp(struct xdp_md *xdp, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, __u32 start, __u32 end) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
/* bool in the kernel: only the low byte of its r0 is defined there, hence the masks below */
extern int bpf_dynptr_is_null(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_is_rdonly(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_clone(const struct bpf_dynptr *p, struct bpf_dynptr *clone__uninit) __ksym;

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u64); } res SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u8[32]); } mem SEC(".maps");

static __always_inline void put(__u32 k, __u64 v)
{
	__u64 *o = bpf_map_lookup_elem(&res, &k);
	if (o)
		*o = v;
}

/* packet bytes 14..21 are the arguments */
SEC("xdp") int xdp_args(struct xdp_md *ctx)
{
	struct bpf_dynptr p, c;
	__u8 a[8] = {}, buf[16] = {};
	__u8 *s;
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	bpf_dynptr_from_xdp(ctx, a[0] & 1, &p);
	r = bpf_dynptr_adjust(&p, a[1], a[2] | (a[3] & 1) << 8);
	put(0, (__u64)r << 32 | bpf_dynptr_size(&p));
	s = bpf_dynptr_slice(&p, a[4], buf, sizeof(buf));
	put(1, s ? (__u64)(s == buf) << 24 | s[0] | s[15] << 8 : 0xdead);
	r = bpf_dynptr_read(buf, a[5] & 15, &p, a[6], a[0] & 4);
	put(2, (__u64)r << 32 | buf[0] | buf[7] << 8);
	bpf_dynptr_clone(&p, &c);
	r = bpf_dynptr_write(&c, a[7], buf, 4, a[0] & 2);
	put(3, (__u64)r << 8 | (bpf_dynptr_is_null(&c) & 1) | (bpf_dynptr_is_rdonly(&c) & 1) << 1 |
	       bpf_dynptr_size(&c) << 2);
	return XDP_TX;
}

/* a local dynptr over a map value: bytes 14..18 are the arguments */
SEC("xdp") int local_args(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 a[5] = {}, tmp[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	__u32 k = 0;
	__u8 *v, *d;
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	v = bpf_map_lookup_elem(&mem, &k);
	if (!v)
		return XDP_DROP;
	r = bpf_dynptr_from_mem(v, a[0] & 31, a[1] & 1, &p);
	put(4, (__u64)r << 32 | bpf_dynptr_size(&p) | (bpf_dynptr_is_null(&p) & 1) << 8);
	d = bpf_dynptr_data(&p, a[2] & 31, 4);
	if (d)
		d[0] += 1;
	put(5, d != 0);
	r = bpf_dynptr_write(&p, a[3] & 31, tmp, sizeof(tmp), 0);
	put(6, r);
	r = bpf_dynptr_read(tmp, sizeof(tmp), &p, a[4] & 31, 0);
	put(7, (__u64)r << 32 | tmp[0] | tmp[7] << 8);
	return XDP_PASS;
}

/* not for the kernel: a dynptr argument that points nowhere faults in both engines alike */
SEC("xdp") int bad_pointer(struct xdp_md *ctx)
{
	return bpf_dynptr_size((const struct bpf_dynptr *)8);
}

char _license[] SEC("license") = "GPL";
"""

_KERNEL = kernel_unavailable_reason()


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    edges = [0, 1, 2, 13, 14, 15, 16, 20, 31, 40, 60, 99, 255]
    packets = []
    for _ in range(count):
        args = bytes(rng.choice(edges + [rng.randrange(256)]) for _ in range(8))
        packets.append(bytes(range(14)) + args + bytes((i * 13) & 0xFF for i in range(rng.randrange(0, 90))))
    return packets


PACKETS = _packets(15, 160)
PROGRAMS = ["xdp_args", "local_args"]


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("dynptr_native"), "dynptr_native", SOURCE)


@pytest.mark.parametrize("name", PROGRAMS)
def test_vm_and_jit_agree_with_no_python_call(obj, name):
    jit, want = jit_agrees_with_vm(obj, name, PACKETS)
    assert all(o[4] is None for o in want)
    fallbacks = jit.helper_fallbacks()
    assert len(fallbacks) >= 6 and not any(fallbacks.values()), fallbacks


def test_the_arguments_reach_every_answer(obj):
    """The packets are not all alike: each kfunc answers both ways."""
    store = MapStore.for_object(obj)
    engine = VmEngine(obj.program("xdp_args"), store)
    seen: dict[int, set] = {k: set() for k in range(4)}
    for packet in PACKETS:
        engine.run(packet)
        for k in seen:
            seen[k].add(int.from_bytes(store["res"].lookup(k.to_bytes(4, "little")), "little") >> 32)
    errors = {value - (1 << 32) if value >> 31 else value for value in seen[0] | seen[2]}
    assert {0, -22, -34} <= errors, errors  # adjust: fine, -EINVAL, -ERANGE
    assert seen[1] >= {0, 0xdead >> 32} and any(v for v in seen[3])


def test_a_bad_dynptr_pointer_faults_alike(obj):
    _, want, _ = outcomes(VmEngine, obj, "bad_pointer", PACKETS[:2])
    _, got, _ = outcomes(JitEngine, obj, "bad_pointer", PACKETS[:2])
    assert got == want
    assert want[0][0] == "XDP_ABORTED" and "NULL pointer" in want[0][4][1], want[0]


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
@pytest.mark.parametrize("name", PROGRAMS)
def test_engines_agree_with_the_kernel(obj, name, engine):
    agrees_with_the_kernel(obj, name, engine, PACKETS)
