/* port_rewrite.c — rewrite the UDP destination port (and optionally the destination
 * IPv4 address) of matching packets, fixing the checksums incrementally.
 *
 * For an IPv4 UDP packet whose destination port is a key of `rewrites`, the port is
 * replaced by the entry's new port; if the entry's new address is not 0.0.0.0 the
 * IPv4 destination address is replaced too. Checksums are updated with RFC 1624
 * eqn. 3 (HC' = ~(~HC + ~m + m')): the IPv4 header checksum for an address change;
 * the UDP checksum for the port and, through the pseudo-header, the address. A UDP
 * checksum of 0 ("no checksum", RFC 768) stays 0; a recomputed 0 is sent as 0xffff.
 *
 * Maps:
 *   rewrites  HASH __be16 old destination port (network order, the wire bytes) ->
 *             struct rewrite { __be16 port; __u16 pad; __be32 daddr; } (8 bytes, all
 *             network order; daddr 0 keeps the address). See port_rewrite.maps.json.
 * Verdicts: XDP_PASS for every well-formed frame, rewritten or not (non-IPv4, non-UDP,
 *           non-first fragments and unlisted ports pass unchanged); XDP_DROP for
 *           malformed frames (runt, cut VLAN tag, bad or cut IPv4 header, cut UDP
 *           header).
 * NFP offload: yes — one HASH map (2-byte key, 8-byte value) read at constant
 *           offsets, map_lookup only; packet writes only.
 */
#include "parsing.h"

struct rewrite {
	__be16 port;
	__u16 pad;
	__be32 daddr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __be16);
	__type(value, struct rewrite);
} rewrites SEC(".maps");

SEC("xdp")
int xdp_port_rewrite(struct xdp_md *ctx)
{
	struct headers h = {};
	struct cursor c;
	struct rewrite *rw;
	struct udphdr *udp;
	__be16 old_port __attribute__((aligned(4)));	/* NFP: aligned stack key */
	__be16 new_port;
	__be32 new_daddr;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_to_l4(&c, &h);
	if (proto == PARSE_MALFORMED)
		return XDP_DROP;
	if (proto != IPPROTO_UDP || !h.ip4 || ipv4_is_later_fragment(h.ip4))
		return XDP_PASS;
	udp = parse_udp(&c);
	if (!udp)
		return XDP_DROP;

	old_port = udp->dest;
	rw = bpf_map_lookup_elem(&rewrites, &old_port);
	if (!rw)
		return XDP_PASS;
	new_port = rw->port;
	new_daddr = rw->daddr;

	if (udp->check) {
		__u16 check = csum_replace2(udp->check, old_port, new_port);

		if (new_daddr)
			check = csum_replace4(check, h.ip4->daddr, new_daddr);
		udp->check = udp_csum_nonzero(check);
	}
	udp->dest = new_port;
	if (new_daddr) {
		h.ip4->check = csum_replace4(h.ip4->check, h.ip4->daddr, new_daddr);
		h.ip4->daddr = new_daddr;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
