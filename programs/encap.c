/* encap.c — tunnel IPv4 packets: push an outer IPv4 header (IP-in-IP, protocol 4,
 * RFC 2003) in front of the inner IPv4 header and send the frame back out.
 *
 * bpf_xdp_adjust_head(ctx, -20) grows the frame at the front; the Ethernet header is
 * moved to the new start (ethertype stays IPv4) and the outer header is written after
 * it: version 4, IHL 5, the inner TOS, total length = inner tot_len + 20, id 0, DF,
 * TTL 64, protocol 4, addresses from the `tunnel` map, header checksum computed over
 * the 20 bytes (RFC 1071).
 *
 * Maps:
 *   tunnel  ARRAY[1] of struct tunnel { __be32 saddr; __be32 daddr; } (network
 *           order): the tunnel endpoints. With daddr 0.0.0.0 (unconfigured) packets
 *           pass untouched. See encap.maps.json.
 * Verdicts: XDP_TX for encapsulated IPv4 packets; XDP_PASS for non-IPv4 frames
 *           (ARP, IPv6, VLAN-tagged) and when the tunnel is unconfigured; XDP_DROP for
 *           runts and cut or invalid inner IPv4 headers; XDP_ABORTED if
 *           bpf_xdp_adjust_head fails (no headroom).
 * NFP offload: yes — one ARRAY map (8-byte value) read at constant offsets, helpers
 *           map_lookup and xdp_adjust_head (one call, constant delta -20).
 */
#include "parsing.h"

struct tunnel {
	__be32 saddr;
	__be32 daddr;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tunnel);
} tunnel SEC(".maps");

SEC("xdp")
int xdp_encap(struct xdp_md *ctx)
{
	struct iphdr outer = {}, *inner;
	struct ethhdr eth_copy, *eth;
	struct tunnel *tun;
	struct cursor c;
	__u32 key = 0;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_eth(&c, &eth);
	if (proto < 0)
		return XDP_DROP;
	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (parse_ipv4(&c, &inner) < 0)
		return XDP_DROP;
	tun = bpf_map_lookup_elem(&tunnel, &key);
	if (!tun || !tun->daddr)
		return XDP_PASS;

	outer.version = 4;
	outer.ihl = 5;
	outer.tos = inner->tos;
	outer.tot_len = bpf_htons(bpf_ntohs(inner->tot_len) + sizeof(outer));
	outer.frag_off = bpf_htons(0x4000); /* DF */
	outer.ttl = 64;
	outer.protocol = IPPROTO_IPIP;
	outer.saddr = tun->saddr;
	outer.daddr = tun->daddr;
	outer.check = ipv4_header_csum(&outer);
	__builtin_memcpy(&eth_copy, eth, sizeof(eth_copy));

	if (bpf_xdp_adjust_head(ctx, -(int)sizeof(outer)))
		return XDP_ABORTED;

	cursor_init(&c, ctx);
	eth = c.pos;
	if ((void *)eth + sizeof(*eth) + sizeof(outer) > c.end)
		return XDP_ABORTED;
	__builtin_memcpy(eth, &eth_copy, sizeof(*eth));
	__builtin_memcpy((void *)(eth + 1), &outer, sizeof(outer));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
