#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* atomics are always checked for alignment (strict_alignment_once), plain accesses are not */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[16]);
} counters SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	char *value = bpf_map_lookup_elem(&counters, &key);

	if (!value)
		return XDP_PASS;
	__sync_fetch_and_add((__u32 *)(value + 2), 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
