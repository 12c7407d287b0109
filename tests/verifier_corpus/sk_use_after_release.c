#include "refs.h"

/* a socket read after its release */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	if (!sk)
		return XDP_PASS;
	bpf_sk_release(sk);
	return *(volatile __u32 *)&sk->src_port == 80 ? XDP_DROP : XDP_PASS;
}
