#include "refs.h"

/* tcp_check_syncookie and tcp_gen_syncookie take a socket and header memory */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	char iph[20] = {}, th[20] = {};
	long r;

	if (!sk)
		return XDP_PASS;
	r = bpf_tcp_check_syncookie(sk, iph, sizeof(iph), th, sizeof(th));
	r += bpf_tcp_gen_syncookie(sk, iph, sizeof(iph), th, sizeof(th));
	bpf_sk_release(sk);
	return r ? XDP_DROP : XDP_PASS;
}
