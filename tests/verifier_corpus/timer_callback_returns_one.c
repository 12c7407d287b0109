#include "callbacks.h"

static int fire(void *map, __u32 *key, struct tval *v)
{
	return 1;
}

/* a timer callback must return 0 */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct tval *v = bpf_map_lookup_elem(&htimers, &key);

	if (!v)
		return XDP_PASS;
	bpf_timer_init(&v->timer, &htimers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&v->timer, fire);
	return XDP_PASS;
}
