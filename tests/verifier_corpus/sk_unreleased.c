#include "refs.h"

/* a socket never released */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	if (!sk)
		return XDP_PASS;
	return sk->src_port == 80 ? XDP_DROP : XDP_PASS;
}
