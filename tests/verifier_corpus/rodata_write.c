#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile int limit = 5;

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	*(volatile int *)&limit = 7;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
