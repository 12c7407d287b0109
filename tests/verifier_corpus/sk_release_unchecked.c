#include "refs.h"

/* a socket released before its NULL check */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	bpf_sk_release(sk);
	return XDP_PASS;
}
