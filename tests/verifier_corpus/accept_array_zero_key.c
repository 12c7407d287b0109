#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* the common C shape: key 0 in an array, counted without a NULL check (Linux 6.14+) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&counters, &key);

	*count += 1;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
