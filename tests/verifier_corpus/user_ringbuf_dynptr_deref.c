#include "callbacks.h"

static long peek(struct bpf_dynptr *record, void *unused)
{
	return *(volatile __u64 *)record & 1;
}

/* the record is a dynptr, not memory the callback may load from */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	bpf_user_ringbuf_drain(&urb, peek, 0, 0);
	return XDP_PASS;
}
