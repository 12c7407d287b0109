#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* BPF_F_WRONLY_PROG: plain writes are allowed (an atomic add reads, and is not) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_WRONLY_PROG);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 *value = bpf_map_lookup_elem(&stats, &key);

	if (value)
		*value = ctx->ingress_ifindex;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
