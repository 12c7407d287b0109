/* l4_lb.c — a layer-4 load balancer (a much simplified Katran, rewriting instead
 * of tunnelling): packets for the virtual IP are spread over backends by a hash of
 * their 5-tuple and sent back out with the backend's addresses.
 *
 * For IPv4 TCP/UDP packets to the VIP (10.0.0.100, LB_VIP below, any port), the
 * 5-tuple (saddr, daddr, sport, dport, protocol) is folded by XOR and shifts into an
 * index 0..3 (hash & 3: the backend count is a power of two, so no modulo); the
 * destination IPv4 address becomes the backend's, the IPv4 checksum and the TCP/UDP
 * checksum are updated incrementally (RFC 1624; a zero UDP checksum stays zero), the
 * destination MAC becomes the backend's and the source MAC the old destination
 * (ours), and the frame is transmitted.
 *
 * Hash (network-order words as loaded): h = saddr ^ daddr ^ (sport | dport << 16)
 * ^ protocol; h ^= h >> 16; h ^= h >> 8; index = h & 3.
 *
 * Maps:
 *   backends  ARRAY[4] of struct backend { __be32 addr; __u8 mac[6]; __u16 pad; }
 *             (12 bytes). An entry with addr 0.0.0.0 is a missing backend. See
 *             l4_lb.maps.json.
 * Verdicts: XDP_TX for balanced packets; XDP_PASS for traffic not addressed to the
 *           VIP, non-IPv4 (ARP, IPv6), IPv4 fragments and non-TCP/UDP protocols to
 *           the VIP (e.g. ICMP); XDP_DROP for malformed frames (runt, cut VLAN tag,
 *           bad or cut IPv4 header, cut TCP/UDP header) and when the chosen backend
 *           is missing.
 * NFP offload: yes — one ARRAY map (12-byte value) read at constant offsets,
 *           map_lookup only, no multiply or modulo.
 */
#include "parsing.h"

#define LB_VIP bpf_htonl(0x0a000064) /* 10.0.0.100 */
#define NUM_BACKENDS 4              /* a power of two: index = hash & (N - 1) */

struct backend {
	__be32 addr;
	__u8 mac[ETH_ALEN];
	__u16 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
} backends SEC(".maps");

static __always_inline __u32 flow_hash(const struct iphdr *ip, __u32 ports)
{
	__u32 h = ip->saddr ^ ip->daddr ^ ports ^ ip->protocol;

	h ^= h >> 16;
	h ^= h >> 8;
	return h;
}

SEC("xdp")
int xdp_l4_lb(struct xdp_md *ctx)
{
	struct headers h = {};
	struct backend *be;
	struct cursor c;
	__u16 *l4_check;
	__u32 ports, index;
	__be32 old_daddr;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_to_l4(&c, &h);
	if (proto == PARSE_MALFORMED)
		return XDP_DROP;
	if (!h.ip4 || h.ip4->daddr != LB_VIP)
		return XDP_PASS;
	if (h.ip4->frag_off & bpf_htons(IP4_MF | IP4_OFFSET))
		return XDP_PASS;

	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = parse_tcp(&c);

		if (!tcp)
			return XDP_DROP;
		ports = tcp->source | (__u32)tcp->dest << 16;
		l4_check = &tcp->check;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = parse_udp(&c);

		if (!udp)
			return XDP_DROP;
		ports = udp->source | (__u32)udp->dest << 16;
		l4_check = udp->check ? &udp->check : NULL;
	} else {
		return XDP_PASS;
	}

	index = flow_hash(h.ip4, ports) & (NUM_BACKENDS - 1);
	be = bpf_map_lookup_elem(&backends, &index);
	if (!be || !be->addr)
		return XDP_DROP;

	old_daddr = h.ip4->daddr;
	if (l4_check) {
		__u16 check = csum_replace4(*l4_check, old_daddr, be->addr);

		*l4_check = proto == IPPROTO_UDP ? udp_csum_nonzero(check) : check;
	}
	h.ip4->check = csum_replace4(h.ip4->check, old_daddr, be->addr);
	h.ip4->daddr = be->addr;
	__builtin_memcpy(h.eth->h_source, h.eth->h_dest, ETH_ALEN);
	__builtin_memcpy(h.eth->h_dest, be->mac, ETH_ALEN);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
