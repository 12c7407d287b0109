#include "spinlock.h"

/* no helper call while the lock is held */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	bpf_spin_lock(&v->lock);
	v->count = bpf_get_prandom_u32();
	bpf_spin_unlock(&v->lock);
	return XDP_DROP;
}
