#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile int mode = 1;

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return mode == 1 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
