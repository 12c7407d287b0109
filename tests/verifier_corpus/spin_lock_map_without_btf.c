#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* a legacy map (SEC("maps"), no BTF types): the kernel cannot know where its lock is */
struct legacy_map_def {
	unsigned int type, key_size, value_size, max_entries, map_flags;
};

struct val {
	int count;
	struct bpf_spin_lock lock;
};

struct legacy_map_def legacy SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH, .key_size = sizeof(__u32), .value_size = sizeof(struct val), .max_entries = 2,
};

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;
	struct val *v = bpf_map_lookup_elem(&legacy, &key);

	if (!v)
		return XDP_PASS;
	bpf_spin_lock(&v->lock);
	v->count++;
	bpf_spin_unlock(&v->lock);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
