/* redirect_devmap.c — forward IP traffic to another interface through a DEVMAP,
 * the map-based fast path of a software switch / router.
 *
 * The DEVMAP is indexed by the ingress ifindex: entry i holds the ifindex to send
 * frames arriving on interface i to. bpf_redirect_map is called with XDP_PASS in the
 * flags, so an ingress interface without an entry falls back to XDP_PASS instead of
 * XDP_ABORTED (the lower two bits of flags are the fallback verdict, Linux >= 5.6).
 *
 * Maps:
 *   tx_ports  DEVMAP[64], key __u32 ingress ifindex -> value __u32 egress ifindex.
 *             See redirect_devmap.maps.json (1 -> 1: loopback back to itself).
 * Verdicts: XDP_REDIRECT for IPv4/IPv6 frames whose ingress ifindex has an entry;
 *           XDP_PASS for IPv4/IPv6 frames without one and for every other ethertype
 *           (ARP, LLDP, VLAN-tagged: left to the stack); XDP_DROP for runts.
 * NFP offload: no — DEVMAP is not an offloadable map type and the NFP cannot
 *           redirect (only PASS / DROP / TX).
 */
#include "parsing.h"

#define MAX_PORTS 64

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

SEC("xdp")
int xdp_redirect_devmap(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct cursor c;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_eth(&c, &eth);
	if (proto < 0)
		return XDP_DROP;
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	return bpf_redirect_map(&tx_ports, ctx->ingress_ifindex, XDP_PASS);
}

char _license[] SEC("license") = "GPL";
