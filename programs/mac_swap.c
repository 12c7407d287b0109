/* mac_swap.c — bounce every frame back out of the port it came in on.
 *
 * Swaps the Ethernet source and destination addresses and returns XDP_TX: the
 * classic reflector used to measure XDP_TX throughput and hairpin latency.
 *
 * Maps: none.
 * Verdicts: XDP_TX with source and destination MAC swapped (the rest of the frame
 *           untouched) for every frame of at least 14 bytes; XDP_DROP for runts.
 * NFP offload: yes — no maps, no helpers; XDP_TX hairpins out of the ingress port.
 */
#include "parsing.h"

SEC("xdp")
int xdp_mac_swap(struct xdp_md *ctx)
{
	struct cursor c;
	struct ethhdr *eth;
	__u8 tmp[ETH_ALEN];

	cursor_init(&c, ctx);
	if (parse_eth(&c, &eth) < 0)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
