"""The helpers real XDP programs call, native in the jit: each shape agrees with the
reference interpreter (every observable: verdict, bytes, redirect target, faults,
instruction counts, maps) and, where the kernel is reachable, with the kernel
(verdict, return value, bytes, maps) — and no call goes through a Python fallback.

One C object holds a program per helper shape (built once with clang); packets are
chosen to walk every branch of each helper (error answers included).
"""

from __future__ import annotations

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define PACKET(n) \
	unsigned char *p = (void *)(long)ctx->data; \
	if ((void *)p + (n) > (void *)(long)ctx->data_end) \
		return XDP_ABORTED;

struct { __uint(type, BPF_MAP_TYPE_DEVMAP); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u32); } ports SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_DEVMAP_HASH); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u32); } ports_hash SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_CPUMAP); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u32); } cpus SEC(".maps");
#ifdef WITH_XSK  /* the kernel engine cannot dump an xskmap (lookup is not supported) */
struct { __uint(type, BPF_MAP_TYPE_XSKMAP); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u32); } sockets SEC(".maps");
#define XSK_OR(other) &sockets
#else
#define XSK_OR(other) other
#endif
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 6);
         __type(key, __u32); __type(value, __u64); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4);
         __type(key, __u16); __type(value, __u32); } recent SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
         __type(key, __u32); __type(value, __u64); } hops SEC(".maps");

SEC("xdp")
int csum(struct xdp_md *ctx)
{
	PACKET(40)
	__u32 seed = p[0] | (p[1] << 8) | (p[2] << 16) | ((__u32)p[3] << 24);
	__s64 a = bpf_csum_diff((void *)(p + 4), 4, (void *)(p + 8), 8, seed);
	__s64 b = bpf_csum_diff(0, 0, (void *)(p + 16), 12, a);
	__s64 c = bpf_csum_diff((void *)(p + 28), 8, 0, 0, ~seed);
	__s64 d = bpf_csum_diff((void *)(p + 4), 6, (void *)(p + 12), 3, seed);
	__s64 e = bpf_csum_diff(0, 0, 0, 0, seed);
	__u64 out = (a & 0xffff) ^ ((b & 0xffff) << 16) ^ ((c & 0xffff) << 32) ^ ((__u64)(d & 0xffff) << 48) ^ e;
	__builtin_memcpy(p + 32, &out, 8);
	return XDP_PASS;
}

SEC("xdp")
int redirect_ifindex(struct xdp_md *ctx)
{
	PACKET(2)
	return bpf_redirect(p[0], p[1] & 1);
}

SEC("xdp")
int redirect_maps(struct xdp_md *ctx)
{
	PACKET(3)
	__u64 flags = p[2] & 0x1f;   /* fallback verdict bits, BROADCAST, EXCLUDE_INGRESS */
	switch (p[0] & 3) {
	case 0: return bpf_redirect_map(&ports, p[1] & 15, flags);
	case 1: return bpf_redirect_map(&ports_hash, p[1] & 15, flags);
	case 2: return bpf_redirect_map(&cpus, p[1] & 7, flags & 7);
	default: return bpf_redirect_map(XSK_OR(&cpus), p[1] & 7, flags & 3);
	}
}

int tail_second(struct xdp_md *ctx);
int tail_again(struct xdp_md *ctx);

struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __array(values, int (void *)); } jumps SEC(".maps") = {
	.values = { [1] = (void *)&tail_second, [2] = (void *)&tail_again },
};

static __always_inline int count_hop(void)
{
	__u32 k = 0;
	__u64 *hop = bpf_map_lookup_elem(&hops, &k);
	if (hop)
		*hop += 1;
	return 0;
}

SEC("xdp")
int tail_second(struct xdp_md *ctx)
{
	count_hop();
	return XDP_TX;
}

SEC("xdp")
int tail_again(struct xdp_md *ctx)   /* tail-calls itself until the kernel's limit */
{
	count_hop();
	bpf_tail_call(ctx, &jumps, 2);
	return XDP_DROP;
}

SEC("xdp")
int tail_first(struct xdp_md *ctx)
{
	PACKET(1)
	bpf_tail_call(ctx, &jumps, p[0] & 7);   /* 0: empty, 1: second, 2: again, >3: past the end */
	return XDP_PASS;
}

struct loop_ctx { unsigned char bytes[32]; __u32 sum; __u32 stop; };

static long add_byte(__u32 i, void *arg)
{
	struct loop_ctx *c = arg;
	unsigned char b = c->bytes[i & 31];
	c->sum = c->sum * 31 + b + i;
	return b == c->stop;
}

SEC("xdp")
int loop(struct xdp_md *ctx)
{
	PACKET(34)
	struct loop_ctx c = { .sum = 0, .stop = p[1] };
	__builtin_memcpy(c.bytes, p + 2, 32);
	/* the count is a u32 to the kernel: bit 32 set on odd stop bytes must not matter */
	long n = bpf_loop(p[0] | (__u64)(p[1] & 1) << 32, add_byte, &c, 0);
	__u32 k = 0;
	__u64 *hop = bpf_map_lookup_elem(&hops, &k);
	if (hop)
		*hop += c.sum ^ (n << 32);
	return n < 0 ? XDP_ABORTED : (c.sum & 1 ? XDP_PASS : XDP_DROP);
}

SEC("xdp")
int hash_ops(struct xdp_md *ctx)
{
	PACKET(4)
	__u32 key = p[0] % 9;
	__u64 value = p[1];
	long r = bpf_map_update_elem(&flows, &key, &value, p[2] & 3);   /* ANY, NOEXIST, EXIST, bad */
	if (p[3] & 1)
		r = (r << 8) | (bpf_map_delete_elem(&flows, &key) & 0xff);
	__u16 lkey = p[1] % 7;
	__u32 seen = p[0];
	long l = bpf_map_update_elem(&recent, &lkey, &seen, BPF_ANY);
	__u32 *old = bpf_map_lookup_elem(&recent, &lkey);
	if (p[3] & 2)
		l |= bpf_map_delete_elem(&recent, &lkey) << 4;
	__u32 k = 1;
	__u64 *hop = bpf_map_lookup_elem(&hops, &k);
	if (hop)
		*hop = (*hop << 5) ^ (r & 0xffff) ^ (l << 20) ^ (old ? *old : 0);
	return XDP_PASS;
}

SEC("xdp")
int packet_bytes(struct xdp_md *ctx)
{
	PACKET(2)
	unsigned char buf[16] = {};
	__u32 offset = p[0], len = (p[1] & 15) + 1;   /* the kernel wants a non-zero size */
	__u8 shape = p[1];
	long r = bpf_xdp_load_bytes(ctx, offset, buf, len);
	if (r)
		return r == -22 ? XDP_DROP : XDP_ABORTED;
	buf[0] ^= 0x5a;
	r = bpf_xdp_store_bytes(ctx, 2, buf, len - 1 ? len - 1 : 1);
	if (bpf_xdp_adjust_tail(ctx, shape >> 4) == 0 && bpf_xdp_adjust_head(ctx, (shape & 0x80) ? 4 : 0) == 0)
		return XDP_TX;
	return r ? XDP_ABORTED : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""

DEVMAP_STATE = {
    "ports": [{"key": "01000000", "value": "01000000"}, {"key": "03000000", "value": "01000000"}],
    "ports_hash": [{"key": "02000000", "value": "01000000"}, {"key": "07000000", "value": "01000000"}],
    "cpus": [{"key": "00000000", "value": "00010000"}],
}

CASES = {
    "csum": [bytes((i * 37 + k * 11) & 0xFF for k in range(48)) for i in range(8)] + [bytes(48), b"\xff" * 48],
    "redirect_ifindex": [bytes([i, f]) + bytes(20) for i in (0, 1, 7, 255) for f in (0, 1)],
    "redirect_maps": [bytes([m, k, f]) + bytes(20) for m in range(4) for k in (0, 1, 2, 3, 7, 15)
                      for f in (0, 1, 2, 3, 4, 8, 0x10, 0x1b)],
    "tail_first": [bytes([k]) + bytes(20) for k in range(8)],
    "loop": [bytes([n, stop]) + bytes(range(40)) for n in (0, 1, 5, 60, 255) for stop in (0, 3, 20, 200)],
    "hash_ops": [bytes([(i * 5) & 0xFF, (i * 7) & 0xFF, i & 3, (i >> 2) & 3]) + bytes(20) for i in range(60)],
    "packet_bytes": [bytes([o, l]) + bytes(range(60)) for o in (0, 3, 50, 62, 200) for l in (0, 5, 0x2f, 0x8f, 0xf3)],
}


@pytest.fixture(scope="module")
def helpers_object(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("jithelpers"), "helpers_prog", "#define WITH_XSK\n" + SOURCE)


@pytest.fixture(scope="module")
def kernel_object(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("jithelpers_kernel"), "helpers_kernel", SOURCE)


def fresh_store(obj) -> MapStore:
    store = MapStore.for_object(obj)
    store.load(DEVMAP_STATE)
    return store


def run_engine(engine_class, obj, name):
    store = fresh_store(obj)
    engine = engine_class(obj.program(name), store)
    packets = CASES[name]
    single = [observable(engine.run(p)) for p in packets]
    return engine, single, store.dump()


@pytest.mark.parametrize("name", list(CASES))
def test_native_helper_matches_vm_without_fallbacks(helpers_object, name):
    _vm, want, vm_maps = run_engine(VmEngine, helpers_object, name)
    jit, got, jit_maps = run_engine(JitEngine, helpers_object, name)
    assert not jit.interpreted
    for index, (w, g) in enumerate(zip(want, got)):
        assert g == w, f"{name} packet {index}"
    assert jit_maps == vm_maps
    fallbacks = jit.helper_fallbacks()
    assert fallbacks and all(count == 0 for count in fallbacks.values()), fallbacks
    # the packet loop (run_packed) as well: same results, redirect targets from the native log
    store = fresh_store(helpers_object)
    batch_engine = JitEngine(helpers_object.program(name), store)
    batched = [observable(r) for r in batch_engine.run_batch(CASES[name])]
    assert batched == want
    assert store.dump() == vm_maps
    assert all(count == 0 for count in batch_engine.helper_fallbacks().values())


def test_tail_calls_reach_the_limit_and_redirects_are_recorded(helpers_object):
    """The shapes above do what they are meant to (so agreement is not vacuous)."""
    _jit, results, maps = run_engine(JitEngine, helpers_object, "tail_first")
    verdicts = [r[0] for r in results]
    assert verdicts[:4] == ["XDP_PASS", "XDP_TX", "XDP_DROP", "XDP_PASS"]
    hops = {e["key"]: int.from_bytes(bytes.fromhex(e["value"]), "little") for e in maps["hops"]}
    assert hops["00000000"] == 1 + 33  # tail_second once; tail_again runs 33 times (MAX_TAIL_CALL_CNT)
    _jit, results, _maps = run_engine(JitEngine, helpers_object, "redirect_maps")
    targets = [r[3] for r in results if r[3] is not None]
    assert {"map": "ports", "key": 1, "ifindex": 1} in targets
    assert {"map": "cpus", "key": 0, "cpu": 0, "qsize": 256} in targets
    assert any(t.get("broadcast") for t in targets)


def test_lru_eviction_and_full_hash_are_native(helpers_object):
    jit, results, maps = run_engine(JitEngine, helpers_object, "hash_ops")
    assert 0 < len(maps["flows"]) <= 6 and 0 < len(maps["recent"]) <= 4
    assert jit.helper_fallbacks()["bpf_map_update_elem"] == 0


# -- against the kernel ---------------------------------------------------------------------

_REASON = kernel_unavailable_reason()


@pytest.mark.kernel
@pytest.mark.skipif(_REASON is not None, reason=f"kernel: {_REASON}")
@pytest.mark.parametrize("name", list(CASES))
def test_native_helper_matches_kernel(kernel_object, name):
    from xdptool.runtime.engines import make_engine

    outcomes, dumps = [], []
    for engine_name in ("kernel", "jit"):
        store = fresh_store(kernel_object)
        engine = make_engine(engine_name, kernel_object.program(name), store, None)
        try:
            outcomes.append([(r.verdict, r.retval, r.packet) for r in engine.run_batch(CASES[name])])
        finally:
            getattr(engine, "close", lambda: None)()
        dumps.append(store.dump())
    for index, (kernel, jit) in enumerate(zip(*outcomes)):
        assert jit == kernel, f"{name} packet {index}: {CASES[name][index].hex()}"
    assert dumps[1] == dumps[0]
