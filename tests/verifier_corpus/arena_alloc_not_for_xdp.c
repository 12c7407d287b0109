#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
char _license[] SEC("license") = "GPL";
extern void *bpf_arena_alloc_pages(void *map, void *addr, __u32 page_cnt, int node_id, __u64 flags) __ksym;
struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } hmap SEC(".maps");
/* the arena kfuncs are refused for XDP (by the live 6.18 kernel) */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	void *p = bpf_arena_alloc_pages(&hmap, 0, 1, -1, 0);
	return p ? XDP_PASS : XDP_DROP;
}
