/* A loop bounded only by cond_break: its imprecise counters are widened (widen_imprecise_scalars)
 * and the iterations converge. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "may_goto.h"

SEC("xdp") int popcount_ifindex(struct xdp_md *ctx)
{
	__u32 x = ctx->ingress_ifindex, n = 0;

	for (;;) {
		n += x & 1;
		x >>= 1;
		if (!x)
			break;
		cond_break;
	}
	return n > 3 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
