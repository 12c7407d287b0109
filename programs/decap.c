/* decap.c — strip the outer header of IP-in-IP (protocol 4, RFC 2003) and 6in4
 * (protocol 41, RFC 4213) tunnel packets and hand the inner packet to the stack.
 *
 * The outer IPv4 header (any IHL, options included) is removed with
 * bpf_xdp_adjust_head(ctx, ihl * 4); the Ethernet header is rewritten at the new start
 * with the inner ethertype (0x0800 or 0x86dd). The inner header must be present in
 * full (20 bytes for IPv4, 40 for IPv6) and carry the matching version nibble before
 * anything is changed.
 *
 * Maps: none.
 * Verdicts: XDP_PASS for decapsulated packets and for everything that is not an
 *           IPv4 tunnel packet (other protocols, non-IPv4 frames, non-first
 *           fragments); XDP_DROP for runts, bad or cut outer IPv4 headers, cut inner
 *           headers and inner headers of the wrong IP version; XDP_ABORTED if
 *           bpf_xdp_adjust_head fails.
 * NFP offload: yes — no maps; helper xdp_adjust_head only (variable delta 20..60,
 *           which takes the driver's general path).
 */
#include "parsing.h"

SEC("xdp")
int xdp_decap(struct xdp_md *ctx)
{
	struct ethhdr eth_copy, *eth;
	struct iphdr *outer;
	struct cursor c;
	__u32 inner_len, outer_len;
	__be16 inner_proto;
	__u8 inner_version;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_eth(&c, &eth);
	if (proto < 0)
		return XDP_DROP;
	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	proto = parse_ipv4(&c, &outer);
	if (proto < 0)
		return XDP_DROP;
	if (proto == IPPROTO_IPIP) {
		inner_proto = bpf_htons(ETH_P_IP);
		inner_len = sizeof(struct iphdr);
		inner_version = 4;
	} else if (proto == IPPROTO_IPV6) {
		inner_proto = bpf_htons(ETH_P_IPV6);
		inner_len = sizeof(struct ipv6hdr);
		inner_version = 6;
	} else {
		return XDP_PASS;
	}
	if (ipv4_is_later_fragment(outer))
		return XDP_PASS;
	if (c.pos + inner_len > c.end)
		return XDP_DROP;
	if (*(__u8 *)c.pos >> 4 != inner_version)
		return XDP_DROP;

	outer_len = c.pos - (void *)outer;
	__builtin_memcpy(&eth_copy, eth, sizeof(eth_copy));
	eth_copy.h_proto = inner_proto;
	if (bpf_xdp_adjust_head(ctx, outer_len))
		return XDP_ABORTED;

	cursor_init(&c, ctx);
	eth = c.pos;
	if ((void *)(eth + 1) > c.end)
		return XDP_ABORTED;
	__builtin_memcpy(eth, &eth_copy, sizeof(*eth));
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
