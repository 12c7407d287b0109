#include "spinlock.h"

/* the lock argument must point at the value's bpf_spin_lock */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	bpf_spin_lock((void *)&v->data);
	bpf_spin_unlock((void *)&v->data);
	return XDP_DROP;
}
