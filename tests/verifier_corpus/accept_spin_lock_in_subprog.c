#include "spinlock.h"

/* a static function takes the lock, the caller releases it */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct val *v = get(&hlocks, 0);

	if (!v)
		return XDP_PASS;
	take(v);
	v->data = 1;
	bpf_spin_unlock(&v->lock);
	return XDP_DROP;
}
