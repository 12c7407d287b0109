#include "callbacks.h"

static int fire(void *map, __u32 *key, struct tval *v)
{
	v->n++;
	return 0;
}

/* a timer in a map value: init, callback, start, as a program arms one */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct tval *v = bpf_map_lookup_elem(&htimers, &key);

	if (!v)
		return XDP_PASS;
	bpf_timer_init(&v->timer, &htimers, CLOCK_MONOTONIC);
	bpf_timer_set_callback(&v->timer, fire);
	bpf_timer_start(&v->timer, 1000, 0);
	return XDP_PASS;
}
