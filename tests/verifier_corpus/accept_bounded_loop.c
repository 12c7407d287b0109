#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	int sum = 0;
	for (int i = 0; i < 64; i++) {
		if (p + i + 1 > (unsigned char *)data_end)
			break;
		sum += p[i];
	}
	return sum & 3;
}

char _license[] SEC("license") = "GPL";
