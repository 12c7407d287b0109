/* A lookup in an array of maps gives, once NULL-checked, the inner map to look up in. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { &inner_map },
};

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	void *map = bpf_map_lookup_elem(&outer, &key);
	if (!map)
		return XDP_PASS;
	__u32 *value = bpf_map_lookup_elem(map, &key);
	if (!value)
		return XDP_PASS;
	return *value & 1 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
