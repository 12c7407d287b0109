#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int f(struct xdp_md *ctx)
{
	return ctx->ingress_ifindex > 3;
}

/* g does not use ctx, so clang leaves r1 as f's call left it (clobbered); the kernel
 * still checks it against the prototype: an uninitialised register is no context */
__attribute__((noinline)) int g(struct xdp_md *ctx, int small)
{
	int arr[4] = {};
	return arr[small & 3];
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return f(ctx) + g(ctx, 2) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
