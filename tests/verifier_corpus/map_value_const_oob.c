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
	__u32 key = 1;
	char *v = bpf_map_lookup_elem(&amap, &key);
	if (!v)
		return XDP_DROP;
	return *(volatile int *)(v + 14);
}

char _license[] SEC("license") = "GPL";
