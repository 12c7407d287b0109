#include "sockmap.h"

/* a sockmap's value is a socket: a stack value is refused */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0, value = 1;

	bpf_map_update_elem(&socks, &key, &value, BPF_ANY);
	return XDP_PASS;
}
