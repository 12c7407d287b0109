#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} notprogs SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &notprogs, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
