#include "callbacks.h"

static long nop(void *map, __u32 *key, __u64 *value, void *c)
{
	return 0;
}

/* the callback context must be on the stack (or NULL) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);

	if (!v)
		return XDP_PASS;
	bpf_for_each_map_elem(&counts, nop, v, 0);
	return XDP_PASS;
}
