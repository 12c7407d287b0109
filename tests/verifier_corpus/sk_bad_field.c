#include "refs.h"

/* a read of the padding after dst_port */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock *sk = lookup(ctx);
	int v;
	if (!sk)
		return XDP_PASS;
	v = *(volatile __u8 *)((char *)sk + 45);
	bpf_sk_release(sk);
	return v;
}
