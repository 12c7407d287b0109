#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u64 buf[2] = {};
	if (bpf_xdp_load_bytes(ctx, 0, buf, 16))
		return XDP_PASS;
	return buf[1] & 3;
}

char _license[] SEC("license") = "GPL";
