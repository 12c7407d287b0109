#include "refs.h"

/* a looked-up socket, read and released */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	int port;
	if (!sk)
		return XDP_PASS;
	port = sk->src_port;
	bpf_sk_release(sk);
	return port == 80 ? XDP_DROP : XDP_PASS;
}
