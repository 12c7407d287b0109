// Fixture for the kernel differential test: XDP programs only, many map kinds,
// global data in .data/.rodata/.bss and a section holding only static data.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} k_hash SEC(".maps");

struct counter {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 32);
	__type(key, __u64);
	__type(value, struct counter);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} k_percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 100);
	__uint(key_size, 16);
	__uint(value_size, 4);
} k_lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 10);
	__type(key, struct { __u32 prefixlen; __u32 addr; });
	__type(value, __u8);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} k_lpm SEC(".maps");

struct k_inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} k_inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct k_inner);
} k_outer SEC(".maps") = { .values = { [0] = &k_inner } };

int k_target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, int (void *));
} k_progs SEC(".maps") = { .values = { [1] = (void *)&k_target } };

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, struct bpf_devmap_val);
} k_devmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} k_ringbuf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 8);
	__uint(value_size, 4);
} k_queue SEC(".maps");

__u64 k_total = 1;
const volatile __u32 k_limit = 9000;
__u32 k_zero;
static __u32 k_private SEC(".data.priv") = 3;

SEC("xdp")
int k_target(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int k_main(struct xdp_md *ctx)
{
	__u32 key = 0;
	__u8 wide[16] = {};
	struct { __u32 prefixlen; __u32 addr; } prefix = { 32, 0 };
	__u64 *v = bpf_map_lookup_elem(&k_hash, &key);
	if (v && *v > k_limit)
		return XDP_DROP;
	k_total += k_private + k_zero;
	if (bpf_map_lookup_elem(&k_percpu_hash, &k_total) || bpf_map_lookup_elem(&k_lru, wide) ||
	    bpf_map_lookup_elem(&k_lpm, &prefix) || bpf_map_lookup_elem(&k_outer, &key))
		return XDP_TX;
	bpf_ringbuf_output(&k_ringbuf, &key, sizeof(key), 0);
	bpf_map_push_elem(&k_queue, &key, 0);
	bpf_tail_call(ctx, &k_progs, 1);
	return bpf_redirect_map(&k_devmap, key, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
