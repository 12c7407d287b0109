/* l4lb_like.c — the driver-relevant features of Netronome's l4lb sample (bpf-samples/l4lb),
 * written for xdptool's probe corpus (not its code): pick a backend from an ARRAY map by a
 * hash of the IPv4 addresses, push an outer IPv4 header with bpf_xdp_adjust_head (IPIP)
 * and send the packet back out (XDP_TX).  NFP features: map lookup with a 4-byte-aligned
 * stack key, adjust_head by a constant, packet reads and writes, no ctx fields beyond
 * data/data_end. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define BACKENDS 64

struct backend {
	__be32 daddr;
	__be32 saddr;
	__u8 dmac[ETH_ALEN];
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

SEC("xdp")
int l4lb_like(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *inner, *outer;
	struct backend *be;
	__u32 key;
	__u16 len;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	inner = (void *)(eth + 1);
	if ((void *)(inner + 1) > end)
		return XDP_PASS;
	key = (inner->saddr ^ inner->daddr) & (BACKENDS - 1);
	len = bpf_ntohs(inner->tot_len);
	be = bpf_map_lookup_elem(&backends, &key);
	if (!be || !be->daddr)
		return XDP_PASS;

	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
		return XDP_ABORTED;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	outer = data + sizeof(*eth);
	if ((void *)(outer + 1) > end || (void *)eth + sizeof(*eth) + sizeof(*outer) + sizeof(*eth) > end)
		return XDP_DROP;
	__builtin_memcpy(eth->h_dest, be->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, (void *)eth + sizeof(*outer) + ETH_ALEN, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);
	outer->version = 4;
	outer->ihl = 5;
	outer->tos = 0;
	outer->tot_len = bpf_htons(len + sizeof(*outer));
	outer->id = 0;
	outer->frag_off = 0;
	outer->ttl = 64;
	outer->protocol = IPPROTO_IPIP;
	outer->check = 0;
	outer->saddr = be->saddr;
	outer->daddr = be->daddr;
	return XDP_TX;
}

char _license[] SEC("license") = "Dual BSD/GPL";
