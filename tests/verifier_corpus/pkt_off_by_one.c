#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	if (p + 14 > (unsigned char *)data_end)
		return XDP_PASS;
	return p[14];
}

char _license[] SEC("license") = "GPL";
