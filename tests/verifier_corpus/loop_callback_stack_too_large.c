#include "callbacks.h"

static int fill(__u32 i, void *unused)
{
	volatile char buf[64];

	buf[i & 63] = 1;
	return buf[0] & 0;
}

/* a callback's stack adds to its caller's (check_max_stack_depth) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	volatile char big[480];

	big[ctx->rx_queue_index & 255] = 1;
	bpf_loop(4, fill, 0, 0);
	return big[3];
}
