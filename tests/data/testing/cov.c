#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp")
int cov(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	if (data + 20 > end)
		return XDP_DROP;
	return XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
