#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	if (p + 1 > (unsigned char *)data_end)
		return XDP_PASS;
	unsigned char *q = p + (p[0] & 63);
	if (q + 1 > (unsigned char *)data_end)
		return XDP_PASS;
	return *q & 3;
}

char _license[] SEC("license") = "GPL";
