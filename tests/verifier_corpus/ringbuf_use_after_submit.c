#include "refs.h"

/* a ring buffer record written after its submission */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, 16, 0);
	if (!e)
		return XDP_PASS;
	bpf_ringbuf_submit(e, 0);
	*(volatile __u64 *)e = 1;
	return XDP_PASS;
}
