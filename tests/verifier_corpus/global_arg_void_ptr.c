#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* a global function cannot take void *: its size is unknown */
__attribute__((noinline)) int f(void *p)
{
	return p != 0;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	int x = 1;
	return f(&x) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
