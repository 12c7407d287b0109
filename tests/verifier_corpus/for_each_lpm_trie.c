#include "callbacks.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} trie SEC(".maps");

static long nop(void *map, void *key, __u64 *value, void *c)
{
	return 0;
}

/* an LPM trie cannot be walked by bpf_for_each_map_elem */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	bpf_for_each_map_elem(&trie, nop, 0, 0);
	return XDP_PASS;
}
