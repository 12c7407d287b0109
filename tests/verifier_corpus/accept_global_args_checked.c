#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))

/* checked for NULL, or declared non-NULL: fine */
__attribute__((noinline)) int read_checked(int *p)
{
	return p ? *p * 2 : 0;
}

__attribute__((noinline)) int read_nonnull(int *p __arg_nonnull, struct xdp_md *ctx, int n)
{
	return *p + n + ctx->ingress_ifindex;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	int x = ctx->ingress_ifindex;

	return read_checked(&x) + read_nonnull(&x, ctx, 3) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
