/* parsing.h — header parsing and checksum arithmetic shared by the example programs.
 *
 * Why a shared header: every program walks Ethernet / VLAN / IP / L4 the same way,
 * and the bounds checks must be written in the one shape the kernel verifier
 * understands (`ptr + size > data_end` before every access). All functions are
 * __always_inline so each program stays a single BPF function (bpf2bpf_call.c makes
 * its own real calls on purpose).
 *
 * Return convention: a parser returns the next protocol number (>= 0) or one of the
 * negative PARSE_* codes below. Protocol numbers are kept in network byte order for
 * ethertypes (as on the wire) and as plain bytes for IP protocol numbers.
 *
 * Nothing here uses helpers, map writes, MOD or byte-swap-to-little-endian
 * instructions, so the NFP offload accepts code built from it (bpf_ntohs compiles to
 * `be16`, a to-big-endian swap the NFP JIT supports).
 */
#ifndef XDPTOOL_PROGRAMS_PARSING_H
#define XDPTOOL_PROGRAMS_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define PARSE_MALFORMED (-1) /* truncated or invalid header: callers drop */
#define PARSE_NOT_IP (-2)    /* a well-formed frame that carries neither IPv4 nor IPv6 */

#define VLAN_MAX_DEPTH 2     /* 802.1Q inside 802.1ad (QinQ) */

/* IPv4 fragment bits of frag_off (RFC 791); the kernel keeps these in net/ip.h. */
#define IP4_MF 0x2000
#define IP4_OFFSET 0x1fff

/* 802.1Q / 802.1ad tag as it follows the MAC addresses (the kernel's struct vlan_hdr
 * lives in a non-UAPI header). */
struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* Where the parser stands in the packet. */
struct cursor {
	void *pos;
	void *end;
};

/* What parse_to_l4 found; pointers are NULL for absent layers. */
struct headers {
	struct ethhdr *eth;
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	void *l4;             /* first byte after the IP header */
	__be16 l3_proto;      /* ethertype after the VLAN tags, network order */
	__u8 l4_proto;
};

static __always_inline void cursor_init(struct cursor *c, struct xdp_md *ctx)
{
	c->pos = (void *)(long)ctx->data;
	c->end = (void *)(long)ctx->data_end;
}

/* Ethernet header: returns the ethertype (network order) or PARSE_MALFORMED for runts. */
static __always_inline int parse_eth(struct cursor *c, struct ethhdr **eth)
{
	struct ethhdr *e = c->pos;

	if ((void *)(e + 1) > c->end)
		return PARSE_MALFORMED;
	c->pos = e + 1;
	*eth = e;
	return e->h_proto;
}

static __always_inline int is_vlan_proto(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/* Skips up to VLAN_MAX_DEPTH tags. A deeper stack comes back as a VLAN ethertype,
 * which callers then treat as "not IP". */
static __always_inline int skip_vlans(struct cursor *c, int proto)
{
	int i;

#pragma unroll
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		struct vlan_hdr *vlan = c->pos;

		if (!is_vlan_proto(proto))
			break;
		if ((void *)(vlan + 1) > c->end)
			return PARSE_MALFORMED;
		proto = vlan->encap_proto;
		c->pos = vlan + 1;
	}
	return proto;
}

/* IPv4 header: version 4, IHL >= 5, options inside the packet, tot_len covering the
 * header. Returns the protocol byte. */
static __always_inline int parse_ipv4(struct cursor *c, struct iphdr **iph)
{
	struct iphdr *ip = c->pos;
	__u32 hdr_len;

	if ((void *)(ip + 1) > c->end)
		return PARSE_MALFORMED;
	if (ip->version != 4 || ip->ihl < 5)
		return PARSE_MALFORMED;
	hdr_len = ip->ihl * 4;
	if (c->pos + hdr_len > c->end)
		return PARSE_MALFORMED;
	if (bpf_ntohs(ip->tot_len) < hdr_len)
		return PARSE_MALFORMED;
	c->pos += hdr_len;
	*iph = ip;
	return ip->protocol;
}

/* Fixed IPv6 header (extension headers are left to the caller). Returns nexthdr. */
static __always_inline int parse_ipv6(struct cursor *c, struct ipv6hdr **ip6h)
{
	struct ipv6hdr *ip6 = c->pos;

	if ((void *)(ip6 + 1) > c->end)
		return PARSE_MALFORMED;
	if (ip6->version != 6)
		return PARSE_MALFORMED;
	c->pos = ip6 + 1;
	*ip6h = ip6;
	return ip6->nexthdr;
}

/* Only the first fragment of an IPv4 datagram carries the L4 header. */
static __always_inline int ipv4_is_later_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & bpf_htons(IP4_OFFSET)) != 0;
}

/* Ethernet, up to two VLAN tags, then IPv4 or IPv6. Fills *h and returns the L4
 * protocol, PARSE_NOT_IP or PARSE_MALFORMED. */
static __always_inline int parse_to_l4(struct cursor *c, struct headers *h)
{
	int proto = parse_eth(c, &h->eth);

	if (proto < 0)
		return proto;
	proto = skip_vlans(c, proto);
	if (proto < 0)
		return proto;
	h->l3_proto = proto;
	if (proto == bpf_htons(ETH_P_IP))
		proto = parse_ipv4(c, &h->ip4);
	else if (proto == bpf_htons(ETH_P_IPV6))
		proto = parse_ipv6(c, &h->ip6);
	else
		return PARSE_NOT_IP;
	if (proto < 0)
		return proto;
	h->l4 = c->pos;
	h->l4_proto = proto;
	return proto;
}

/* UDP header present in full. */
static __always_inline struct udphdr *parse_udp(struct cursor *c)
{
	struct udphdr *udp = c->pos;

	if ((void *)(udp + 1) > c->end)
		return NULL;
	c->pos = udp + 1;
	return udp;
}

/* TCP header present in full, including options (doff >= 5). */
static __always_inline struct tcphdr *parse_tcp(struct cursor *c)
{
	struct tcphdr *tcp = c->pos;
	__u32 hdr_len;

	if ((void *)(tcp + 1) > c->end)
		return NULL;
	hdr_len = tcp->doff * 4;
	if (hdr_len < sizeof(*tcp) || c->pos + hdr_len > c->end)
		return NULL;
	c->pos += hdr_len;
	return tcp;
}

/* ---- Internet checksum (RFC 1071) and its incremental update (RFC 1624) ----
 * All 16-bit words are used exactly as loaded from the packet (network order read as
 * little-endian); one's-complement sums commute with byte swapping, so no swaps are
 * needed as long as the checksum field is loaded the same way. */

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit field m -> m'. */
static __always_inline __u16 csum_replace2(__u16 check, __u16 old, __u16 new)
{
	__u32 sum = (__u16)~check + (__u16)~old + (__u32)new;

	return (__u16)~csum_fold(sum);
}

/* The same for a 32-bit field (two 16-bit words), e.g. an IPv4 address. */
static __always_inline __u16 csum_replace4(__u16 check, __u32 old, __u32 new)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(old & 0xffff) + (__u16)~(old >> 16);
	sum += (new & 0xffff) + (new >> 16);
	return (__u16)~csum_fold(sum);
}

/* UDP transmits a computed checksum of 0 as 0xffff (RFC 768), 0 meaning "none". */
static __always_inline __u16 udp_csum_nonzero(__u16 check)
{
	return check ? check : 0xffff;
}

/* Checksum of a 20-byte IPv4 header without options (check field must be 0). */
static __always_inline __u16 ipv4_header_csum(const struct iphdr *ip)
{
	const __u16 *words = (const __u16 *)ip;
	__u32 sum = 0;
	int i;

#pragma unroll
	for (i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += words[i];
	return (__u16)~csum_fold(sum);
}

#endif /* XDPTOOL_PROGRAMS_PARSING_H */
