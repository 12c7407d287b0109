#include "callbacks.h"

static long one(struct bpf_dynptr *record, struct sum *s)
{
	s->n++;
	return 0;
}

/* bpf_user_ringbuf_drain with a callback that counts records */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct sum s = {};

	bpf_user_ringbuf_drain(&urb, one, &s, 0);
	return XDP_PASS;
}
