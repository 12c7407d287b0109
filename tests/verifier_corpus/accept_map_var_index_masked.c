#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, char[16]);
} amap SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	__u32 key = 0;
	if (p + 1 > (unsigned char *)data_end)
		return XDP_PASS;
	char *v = bpf_map_lookup_elem(&amap, &key);
	if (!v)
		return XDP_DROP;
	return v[p[0] & 15] & 3;
}

char _license[] SEC("license") = "GPL";
