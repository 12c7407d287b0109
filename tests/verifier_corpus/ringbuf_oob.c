#include "refs.h"

/* a write past a ring buffer record */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, 16, 0);
	if (!e)
		return XDP_PASS;
	e[2] = 1;
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}
