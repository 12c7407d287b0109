/* small_hash.c — a two-entry hash map and a four-entry array on the card, for xdptool's tests of the
 * map control messages (full map, index past the end); the program counts packets per EtherType. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, __u32);
	__uint(max_entries, 2);
} pair SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 4);
} slots SEC(".maps");

SEC("xdp")
int small_hash(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0, *hit;
	__u16 proto __attribute__((aligned(4)));

	if ((void *)(eth + 1) > end)
		return XDP_ABORTED;
	proto = eth->h_proto; /* the card wants map keys on the stack */
	hit = bpf_map_lookup_elem(&pair, &proto);
	if (hit)
		return XDP_DROP;
	return bpf_map_lookup_elem(&slots, &zero) ? XDP_PASS : XDP_ABORTED;
}

char _license[] SEC("license") = "Dual BSD/GPL";
