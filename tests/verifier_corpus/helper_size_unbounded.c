#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	__u64 buf[4] = {};
	if (p + 1 > (unsigned char *)data_end)
		return XDP_PASS;
	return bpf_csum_diff(0, 0, (void *)buf, p[0], 0);
}

char _license[] SEC("license") = "GPL";
