#include "callbacks.h"

static long clear(void *map, __u32 *key, __u64 *value, void *unused)
{
	*key = 0;
	return 0;
}

/* a callback may not write the key it is given */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	bpf_for_each_map_elem(&counts, clear, 0, 0);
	return XDP_PASS;
}
