#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* a global function's pointer argument may be NULL: it must check before use */
__attribute__((noinline)) int read_first(int *p)
{
	return *p * 2;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	int x = ctx->ingress_ifindex;

	return read_first(&x) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
