#include "callbacks.h"

/* bpf_timer_init must be given the struct bpf_timer itself (at offset 8) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct tval *v = bpf_map_lookup_elem(&htimers, &key);

	if (!v)
		return XDP_PASS;
	bpf_timer_init((struct bpf_timer *)&v->m, &htimers, CLOCK_MONOTONIC);
	return XDP_PASS;
}
