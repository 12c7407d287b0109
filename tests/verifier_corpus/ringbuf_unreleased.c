#include "refs.h"

/* a ring buffer record neither submitted nor discarded on one path */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, 16, 0);
	if (!e)
		return XDP_PASS;
	e[0] = 1;
	if (ctx->ingress_ifindex == 3)
		return XDP_DROP;
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}
