#include "callbacks.h"

static long add(void *map, __u32 *key, __u64 *value, struct sum *s)
{
	s->total += *value;
	s->n++;
	return *key >= 3;
}

/* bpf_for_each_map_elem over an array, summing into the caller's stack */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct sum s = {};

	bpf_for_each_map_elem(&counts, add, &s, 0);
	return s.total ? XDP_PASS : XDP_DROP;
}
