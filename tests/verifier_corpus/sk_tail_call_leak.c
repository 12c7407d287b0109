#include "refs.h"

/* a tail call while holding a socket */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	if (!sk)
		return XDP_PASS;
	bpf_tail_call(ctx, &jt, 0);
	bpf_sk_release(sk);
	return XDP_PASS;
}
