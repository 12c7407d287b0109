#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	if (p + 2 > (unsigned char *)data_end)
		return XDP_PASS;
	unsigned int i = p[0] & 63;
	return p[i + 1];
}

char _license[] SEC("license") = "GPL";
