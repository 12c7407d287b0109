#include "sockmap.h"

/* an xskmap lookup gives a read-only struct bpf_xdp_sock */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct bpf_xdp_sock *xs = bpf_map_lookup_elem(&xsks, &key);

	if (!xs)
		return XDP_PASS;
	xs->queue_id = 1;
	return XDP_DROP;
}
