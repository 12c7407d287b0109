#include "spinlock.h"

/* the lock itself may not be written by a store */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	*(int *)&v->lock = 0;
	return XDP_DROP;
}
