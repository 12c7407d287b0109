#include "spinlock.h"

/* a lock on the stack is not a map value */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_spin_lock lock = {};

	bpf_spin_lock(&lock);
	bpf_spin_unlock(&lock);
	return XDP_PASS;
}
