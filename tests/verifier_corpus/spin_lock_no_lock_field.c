#include "spinlock.h"

/* a map whose value has no bpf_spin_lock */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct plain *p = bpf_map_lookup_elem(&plains, &key);

	if (!p)
		return XDP_PASS;
	bpf_spin_lock((void *)p);
	bpf_spin_unlock((void *)p);
	return XDP_DROP;
}
