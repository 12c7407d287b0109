#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* a static void function returns without setting r0: prepare_func_exit hands back whatever
 * r0 holds, unread */
static __attribute__((noinline)) void bump(__u32 *counter)
{
	*counter += 1;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 counter = ctx->rx_queue_index;

	bump(&counter);
	return counter > 4 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
