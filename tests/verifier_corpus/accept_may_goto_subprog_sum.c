/* A cond_break loop in a static subprogram whose sum is its return value (the selftests'
 * cond_break3): the sum decides nothing, so it is not precise at the loop's may_goto and is
 * widened there (widen_imprecise_scalars); it was kept exact as a subprogram's r0, and the
 * walk went through every iteration. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "may_goto.h"

static __attribute__((noinline)) int sum_to(struct xdp_md *ctx)
{
	int i, sum = 0;

	for (i = ctx->rx_queue_index; i <= 1000000; i++) {
		sum += i;
		cond_break;
	}
	return sum;
}

SEC("xdp") int may_goto_subprog_sum(struct xdp_md *ctx)
{
	return sum_to(ctx) & 1 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
