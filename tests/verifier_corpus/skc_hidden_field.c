#include "refs.h"

/* a sock_common read of a field only full sockets have */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};
	struct bpf_sock *sk = bpf_skc_lookup_tcp(ctx, &t, sizeof(t.ipv4), -1, 0);
	int v;
	if (!sk)
		return XDP_PASS;
	v = *(volatile __u32 *)&sk->type;
	bpf_sk_release(sk);
	return v;
}
