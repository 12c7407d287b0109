#include "callbacks.h"

/* a value without a struct bpf_timer */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);

	if (!v)
		return XDP_PASS;
	bpf_timer_init((struct bpf_timer *)v, &counts, CLOCK_MONOTONIC);
	return XDP_PASS;
}
