#include "refs.h"

/* a write into a socket */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	if (!sk)
		return XDP_PASS;
	*(volatile __u32 *)&sk->mark = 1;
	bpf_sk_release(sk);
	return XDP_PASS;
}
