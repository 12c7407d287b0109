#include "callbacks.h"

__attribute__((noinline)) int visible(__u32 i, void *unused)
{
	return 0;
}

/* a callback must be a static function */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	bpf_loop(4, visible, 0, 0);
	return XDP_PASS;
}
