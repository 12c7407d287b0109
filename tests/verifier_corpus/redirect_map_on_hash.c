#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hmap SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return bpf_redirect_map(&hmap, 0, 0);
}

char _license[] SEC("license") = "GPL";
