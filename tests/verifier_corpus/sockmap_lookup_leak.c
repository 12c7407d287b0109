#include "sockmap.h"

/* a sockmap lookup takes a reference on the socket: it must be released */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct bpf_sock *sk = bpf_map_lookup_elem(&socks, &key);

	if (!sk)
		return XDP_PASS;
	return sk->family == 2 ? XDP_DROP : XDP_PASS;
}
