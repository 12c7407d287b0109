/* bpf2bpf_call.c — a TCP flag sanity filter built from real BPF-to-BPF calls.
 *
 * The helpers below are `static __noinline`, so the object keeps them as separate
 * functions in .text and the program reaches them with `call` instructions
 * (src_reg = BPF_PSEUDO_CALL), three levels deep:
 *   xdp_bpf2bpf_call -> handle_ipv4 / handle_ipv6 -> handle_tcp -> tcp_flags_verdict.
 * Packet pointers are passed as arguments, which the verifier must track across
 * frames.
 *
 * Dropped flag combinations (classic scan / evasion patterns): no flags (NULL scan),
 * SYN+FIN, SYN+RST, FIN+PSH+URG without ACK (Xmas scan), FIN without ACK.
 *
 * Maps:
 *   flag_drops  ARRAY[1] of __u64: TCP segments dropped for their flags.
 * Verdicts: XDP_DROP for the bad flag combinations above and for malformed frames
 *           (runt, bad or cut IPv4/IPv6 header, cut TCP header or data offset < 5);
 *           XDP_PASS for every other frame (non-IP, non-TCP, TCP with sane flags,
 *           non-first IPv4 fragments). VLAN tags are not parsed: tagged frames pass.
 * NFP offload: yes — ARRAY map with map_lookup + atomic add; the NFP JIT supports
 *           BPF-to-BPF calls (helper calls and pseudo calls are told apart in
 *           drivers/net/ethernet/netronome/nfp/bpf/verifier.c).
 */
#include "parsing.h"
#include "counters.h"

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} flag_drops SEC(".maps");

/* Level 3: the policy, on the flags byte alone. */
static __noinline int tcp_flags_verdict(__u8 flags)
{
	if (flags == 0)
		return XDP_DROP;
	if ((flags & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN))
		return XDP_DROP;
	if ((flags & (TCP_SYN | TCP_RST)) == (TCP_SYN | TCP_RST))
		return XDP_DROP;
	if ((flags & TCP_FIN) && !(flags & TCP_ACK))
		return XDP_DROP; /* includes the Xmas scan FIN+PSH+URG */
	return XDP_PASS;
}

/* Level 2: bounds-check the TCP header, then apply the policy and count drops. */
static __noinline int handle_tcp(void *l4, void *data_end)
{
	struct cursor c = { .pos = l4, .end = data_end };
	struct tcphdr *tcp = parse_tcp(&c);
	int verdict;

	if (!tcp)
		return XDP_DROP;
	verdict = tcp_flags_verdict(((__u8 *)tcp)[13]);
	if (verdict == XDP_DROP)
		counter_add(&flag_drops, 0, 1);
	return verdict;
}

/* Level 1: one function per network layer protocol. */
static __noinline int handle_ipv4(void *l3, void *data_end)
{
	struct cursor c = { .pos = l3, .end = data_end };
	struct iphdr *ip;
	int proto = parse_ipv4(&c, &ip);

	if (proto < 0)
		return XDP_DROP;
	if (proto != IPPROTO_TCP || ipv4_is_later_fragment(ip))
		return XDP_PASS;
	return handle_tcp(c.pos, data_end);
}

static __noinline int handle_ipv6(void *l3, void *data_end)
{
	struct cursor c = { .pos = l3, .end = data_end };
	struct ipv6hdr *ip6;
	int proto = parse_ipv6(&c, &ip6);

	if (proto < 0)
		return XDP_DROP;
	if (proto != IPPROTO_TCP)
		return XDP_PASS;
	return handle_tcp(c.pos, data_end);
}

SEC("xdp")
int xdp_bpf2bpf_call(struct xdp_md *ctx)
{
	struct ethhdr *eth;
	struct cursor c;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_eth(&c, &eth);
	if (proto < 0)
		return XDP_DROP;
	if (proto == bpf_htons(ETH_P_IP))
		return handle_ipv4(c.pos, c.end);
	if (proto == bpf_htons(ETH_P_IPV6))
		return handle_ipv6(c.pos, c.end);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
