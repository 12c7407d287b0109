/* Shared by the map pointer cases: loads through a map's own pointer read the kernel's
 * struct behind it (struct bpf_htab for a hash map, walked in the kernel's BTF). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hmap SEC(".maps");
