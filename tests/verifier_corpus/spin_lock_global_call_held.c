#include "spinlock.h"

/* no global function call while the lock is held */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	bpf_spin_lock(&v->lock);
	v->count = global_bump(v->count);
	bpf_spin_unlock(&v->lock);
	return XDP_DROP;
}
