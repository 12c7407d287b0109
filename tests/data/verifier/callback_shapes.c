/* Callback shapes whose walks must converge as the kernel's do (or fail as its do):
 * a counter in the caller's stack that the callback increments and returns on, through
 * bpf_for_each_map_elem and bpf_loop, and a bpf_loop inside a bpf_loop callback.
 * tests/test_verifier_callbacks.py */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 16);
         __type(key, __u32); __type(value, __u64); } arr SEC(".maps");

struct count { __u64 n, sum; __u32 limit, pad; };

static long count_past_limit(void *map, __u32 *key, __u64 *val, struct count *c)
{
	c->n++;
	if (c->n > c->limit)
		return 1;
	c->sum += *key;
	return 0;
}

static long loop_to_four(__u32 index, struct count *c)
{
	c->n++;
	c->sum += index;
	return c->n == 4;
}

static long loop_past_limit(__u32 index, struct count *c)
{
	c->n++;
	if (c->n > c->limit)
		return 1;
	c->sum += index;
	return 0;
}

static long inner_step(__u32 index, struct count *c)
{
	c->n++;
	c->sum += index * c->limit;
	return 0;
}

static long outer_step(__u32 index, struct count *c)
{
	struct count inner = { .limit = index };

	bpf_loop(8, inner_step, &inner, 0);
	c->n++;
	c->sum += inner.sum + inner.n;
	return 0;
}

static __always_inline __u32 first_byte(struct xdp_md *ctx)
{
	__u8 byte = 0;

	bpf_xdp_load_bytes(ctx, 14, &byte, 1);
	return byte;
}

SEC("xdp") int each_count_past_limit(struct xdp_md *ctx)
{
	struct count c = { .limit = first_byte(ctx) };

	bpf_for_each_map_elem(&arr, count_past_limit, &c, 0);
	return c.sum ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int loop_count_to_four(struct xdp_md *ctx)
{
	struct count c = {};

	bpf_loop(64, loop_to_four, &c, 0);
	return c.sum ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int loop_count_past_limit(struct xdp_md *ctx)
{
	struct count c = { .limit = first_byte(ctx) };

	bpf_loop(first_byte(ctx), loop_past_limit, &c, 0);
	return c.sum ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int loop_nested(struct xdp_md *ctx)
{
	struct count c = {};

	bpf_loop(4, outer_step, &c, 0);
	return c.sum ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
