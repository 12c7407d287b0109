#include "callbacks.h"

static long two(void *map, __u32 *key, __u64 *value, void *unused)
{
	return 2;
}

/* a bpf_for_each_map_elem callback returns 0 (go on) or 1 (stop) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	bpf_for_each_map_elem(&counts, two, 0, 0);
	return XDP_PASS;
}
