#include "refs.h"

/* a ring buffer record filled, then submitted or discarded */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, 16, 0);
	if (!e)
		return XDP_PASS;
	e[0] = ctx->ingress_ifindex;
	e[1] = 2;
	if (e[0] == 3)
		bpf_ringbuf_discard(e, 0);
	else
		bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}
