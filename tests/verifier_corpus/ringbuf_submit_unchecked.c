#include "refs.h"

/* a ring buffer record submitted before its NULL check */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, 16, 0);
	bpf_ringbuf_submit(e, 0);
	return XDP_PASS;
}
