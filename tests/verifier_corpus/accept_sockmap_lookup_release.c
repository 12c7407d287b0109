#include "sockmap.h"

/* a sockmap lookup gives a socket (not a map value): its fields, then its release */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct bpf_sock *sk = bpf_map_lookup_elem(&sockh, &key);
	int action = XDP_PASS;

	if (!sk)
		return XDP_PASS;
	if (sk->type == 1)
		action = XDP_DROP;
	bpf_map_update_elem(&socks, &key, sk, BPF_ANY);
	bpf_sk_release(sk);
	return action;
}
