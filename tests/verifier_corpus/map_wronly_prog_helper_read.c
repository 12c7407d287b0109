#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* BPF_F_WRONLY_PROG: a value handed to a helper that reads it is a read too */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_WRONLY_PROG);
	__type(key, __u32);
	__type(value, __u32);
} keys SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} table SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u32 *key = bpf_map_lookup_elem(&keys, &zero);

	if (!key)
		return XDP_PASS;
	return bpf_map_lookup_elem(&table, key) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
