#include "spinlock.h"

/* the unlock must be of the lock held (another element of the map) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0), *w = get(&hlocks, 1);

	if (!v || !w)
		return XDP_PASS;
	bpf_spin_lock(&v->lock);
	bpf_spin_unlock(&w->lock);
	return XDP_DROP;
}
