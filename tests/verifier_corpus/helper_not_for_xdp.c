#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	char buf[4] = {};
	return bpf_skb_store_bytes(ctx, 0, buf, 4, 0) & 3;
}

char _license[] SEC("license") = "GPL";
