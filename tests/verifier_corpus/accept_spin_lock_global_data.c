#include "spinlock.h"

/* a lock in global data (.data.glock: the value of a global-data map) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	bpf_spin_lock(&glock);
	gcount++;
	bpf_spin_unlock(&glock);
	return XDP_PASS;
}
