/* A packet walk bounded only by cond_break: every iteration has a new packet offset, so no
 * state subsumes another and the kernel gives up on the jump sequence. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "may_goto.h"

SEC("xdp") int count_zeros(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	int zeros = 0;

	for (;;) {
		if (p + 1 > end)
			break;
		zeros += *p == 0;
		p++;
		cond_break;
	}
	return zeros > 3 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
