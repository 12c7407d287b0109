#include "sockmap.h"

/* an xskmap element's queue_id may be read */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct bpf_xdp_sock *xs = bpf_map_lookup_elem(&xsks, &key);

	if (xs && xs->queue_id == ctx->rx_queue_index)
		return bpf_redirect_map(&xsks, key, 0);
	return XDP_PASS;
}
