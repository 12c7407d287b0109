#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* BPF_F_RDONLY_PROG: no map_update_elem/delete/push/pop either */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, __u64);
} config SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u64 value = 1;

	bpf_map_update_elem(&config, &key, &value, BPF_ANY);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
