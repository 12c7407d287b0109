/* bounded_loop.c — walk up to 8 IPv6 extension headers in a real (not unrolled) loop
 * and drop packets that carry a type-0 routing header (deprecated by RFC 5095).
 *
 * The loop keeps its back-edge (`#pragma clang loop unroll(disable)`), so the object
 * has a backward jump and the verifier must explore it as a bounded loop (trip count
 * <= 8). Extension headers walked (RFC 8200): hop-by-hop (0), routing (43),
 * fragment (44), destination options (60), authentication (51, length in 4-byte
 * units + 2). A fragment header with a non-zero offset ends the walk (later fragments
 * carry no upper-layer header). Each header must be present in full.
 *
 * Maps:
 *   l4_counts  ARRAY[256] of __u64: packets per upper-layer protocol found after the
 *              extension headers (6 TCP, 17 UDP, 58 ICMPv6, 59 no next header, 44 for
 *              non-first fragments...).
 * Verdicts: XDP_PASS for IPv6 packets whose chain ends within 8 extension headers
 *           and for non-IPv6 frames; XDP_DROP for a type-0 routing header, chains
 *           of more than 8 extension headers, runts, cut VLAN tags, cut IPv6 or
 *           extension headers.
 * NFP offload: yes — ARRAY map with map_lookup + atomic add; variable packet
 *           offsets only (the NFP reads packet data at any offset).
 */
#include "parsing.h"
#include "counters.h"

#define MAX_EXT_HEADERS 8

/* The kernel's struct frag_hdr is not in the UAPI headers. */
struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} l4_counts SEC(".maps");

static __always_inline int is_ext_header(__u8 nexthdr)
{
	return nexthdr == IPPROTO_HOPOPTS || nexthdr == IPPROTO_ROUTING ||
	       nexthdr == IPPROTO_FRAGMENT || nexthdr == IPPROTO_DSTOPTS ||
	       nexthdr == IPPROTO_AH;
}

SEC("xdp")
int xdp_bounded_loop(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct ipv6hdr *ip6;
	struct cursor c;
	__u32 hdr_len;
	int proto, i;
	__u8 nexthdr;

	cursor_init(&c, ctx);
	proto = parse_eth(&c, &eth);
	if (proto < 0)
		return XDP_DROP;
	proto = skip_vlans(&c, proto);
	if (proto < 0)
		return XDP_DROP;
	if (proto != bpf_htons(ETH_P_IPV6))
		return XDP_PASS;
	proto = parse_ipv6(&c, &ip6);
	if (proto < 0)
		return XDP_DROP;
	nexthdr = proto;

#pragma clang loop unroll(disable)
	for (i = 0; i < MAX_EXT_HEADERS; i++) {
		struct ipv6_opt_hdr *opt = c.pos;

		if (!is_ext_header(nexthdr))
			break;
		if ((void *)(opt + 1) > c.end)
			return XDP_DROP;
		if (nexthdr == IPPROTO_FRAGMENT) {
			struct ipv6_frag_hdr *frag = c.pos;

			if ((void *)(frag + 1) > c.end)
				return XDP_DROP;
			if (frag->frag_off & bpf_htons(0xfff8))
				break; /* later fragment: nexthdr stays 44 */
			hdr_len = sizeof(*frag);
		} else if (nexthdr == IPPROTO_AH) {
			hdr_len = (opt->hdrlen + 2) * 4;
		} else {
			hdr_len = (opt->hdrlen + 1) * 8;
		}
		if (nexthdr == IPPROTO_ROUTING) {
			struct ipv6_rt_hdr *rt = c.pos;

			if ((void *)(rt + 1) > c.end)
				return XDP_DROP;
			if (rt->type == 0)
				return XDP_DROP;
		}
		if (c.pos + hdr_len > c.end)
			return XDP_DROP;
		nexthdr = opt->nexthdr;
		c.pos += hdr_len;
	}
	if (i == MAX_EXT_HEADERS && is_ext_header(nexthdr))
		return XDP_DROP;

	counter_add(&l4_counts, nexthdr, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
