#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* a global function's pointer argument is memory: the context will not do */
__attribute__((noinline)) int read_checked(int *p)
{
	return p ? *p * 2 : 0;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return read_checked((int *)ctx) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
