#include "refs.h"

/* released on one branch only: the states after the join differ only in the reference
 * they hold, so pruning there must compare references (refsafe) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	int verdict = XDP_PASS;

	if (!sk)
		return XDP_PASS;
	if (ctx->rx_queue_index == 1)
		bpf_sk_release(sk);
	if (ctx->ingress_ifindex == 2)
		verdict = XDP_DROP;
	if (ctx->ingress_ifindex == 3)
		verdict = XDP_TX;
	if (ctx->ingress_ifindex == 4)
		verdict = XDP_ABORTED;
	return verdict;
}
