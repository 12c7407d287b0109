#include "spinlock.h"

/* nor read by a helper (the whole value, lock included, copied into another map) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);
	__u32 key = 1;

	if (!v)
		return XDP_PASS;
	return bpf_map_update_elem(&plains, &key, v, 0);
}
