#include "spinlock.h"

/* released on both paths out of the locked region */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	bpf_spin_lock(&v->lock);
	if (v->count > 3) {
		bpf_spin_unlock(&v->lock);
		return XDP_DROP;
	}
	v->count++;
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}
