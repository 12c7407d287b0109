#include "refs.h"

/* a ring buffer reservation of a variable size */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, ctx->ingress_ifindex & 15, 0);
	if (!e)
		return XDP_PASS;
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}
