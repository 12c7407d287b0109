/* ethertype_filter.c — let IPv4, IPv6 and ARP through, drop every other ethertype.
 *
 * A first line of defence on a host port: only the three protocols a plain IP host
 * speaks reach the stack. The ethertype is compared as it follows the MAC addresses,
 * so VLAN-tagged frames (0x8100 / 0x88a8), LLDP, MPLS, 802.3 length fields (< 0x0600)
 * and anything else are dropped.
 *
 * Maps: none.
 * Verdicts: XDP_PASS for ethertype 0x0800 (IPv4), 0x86dd (IPv6), 0x0806 (ARP);
 *           XDP_DROP for every other ethertype and for runts shorter than the
 *           14-byte Ethernet header.
 * NFP offload: yes — no maps, no helpers.
 */
#include "parsing.h"

SEC("xdp")
int xdp_ethertype_filter(struct xdp_md *ctx)
{
	struct cursor c;
	struct ethhdr *eth;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_eth(&c, &eth);
	if (proto < 0)
		return XDP_DROP;
	if (proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6) ||
	    proto == bpf_htons(ETH_P_ARP))
		return XDP_PASS;
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
