#include "spinlock.h"

/* a bpf_timer in a map value may not be read by a load */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 1;
	struct tval *t = bpf_map_lookup_elem(&timers, &key);

	if (!t)
		return XDP_PASS;
	return *(int *)&t->timer & 3;
}
