#include "refs.h"

/* a socket released twice */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_sk_lookup_udp(ctx, &t, sizeof(t.ipv4), -1, 0);
	if (!sk)
		return XDP_PASS;
	bpf_sk_release(sk);
	bpf_sk_release(sk);
	return XDP_PASS;
}
