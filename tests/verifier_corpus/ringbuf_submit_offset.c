#include "refs.h"

/* a ring buffer record submitted by a pointer inside it */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, 16, 0);
	if (!e)
		return XDP_PASS;
	bpf_ringbuf_submit(e + 1, 0);
	return XDP_PASS;
}
