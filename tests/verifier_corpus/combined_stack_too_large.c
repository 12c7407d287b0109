#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int inner(int x)
{
	volatile char buf[300];
	buf[x & 255] = 1;
	return buf[7];
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	volatile char buf[300];
	buf[ctx->rx_queue_index & 255] = 2;
	return inner(buf[3]) & 3;
}

char _license[] SEC("license") = "GPL";
