#include "spinlock.h"

/* an unlock with no lock held */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	bpf_spin_unlock(&v->lock);
	return XDP_DROP;
}
