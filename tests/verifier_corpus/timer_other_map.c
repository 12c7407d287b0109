#include "callbacks.h"

/* bpf_timer_init's map must be the one the timer is in */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct tval *v = bpf_map_lookup_elem(&htimers, &key);

	if (!v)
		return XDP_PASS;
	bpf_timer_init(&v->timer, &timers, CLOCK_MONOTONIC);
	return XDP_PASS;
}
