#include "spinlock.h"

/* the lock pointer must have a constant offset */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);
	__u32 i = bpf_get_prandom_u32() & 4;

	if (!v)
		return XDP_PASS;
	bpf_spin_lock((void *)&v->lock + i);
	bpf_spin_unlock((void *)&v->lock + i);
	return XDP_DROP;
}
