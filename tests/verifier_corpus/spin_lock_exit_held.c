#include "spinlock.h"

/* the program may not end holding the lock */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	bpf_spin_lock(&v->lock);
	v->count++;
	return XDP_DROP;
}
