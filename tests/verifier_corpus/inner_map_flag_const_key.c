#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* an inner map template marked BPF_F_INNER_MAP: its instances may be smaller, so a constant
 * key proves nothing and the lookup may fail */
struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__uint(map_flags, BPF_F_INNER_MAP);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner in0 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = { .values = { &in0 } };

char _license[] SEC("license") = "GPL";

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	void *inner = bpf_map_lookup_elem(&outer, &key);
	__u64 *v;

	if (!inner)
		return XDP_PASS;
	v = bpf_map_lookup_elem(inner, &key);
	return *v & 1;
}
