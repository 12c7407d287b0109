/* port_blocklist.c — drop UDP and TCP packets whose destination port is on a
 * blocklist, and count the drops per port. The main demo and benchmark program.
 *
 * Parses Ethernet, up to two VLAN tags, IPv4 (any IHL) or IPv6 (fixed header; the L4
 * header must follow it directly), then the UDP or TCP header.
 *
 * Maps: ports are keys in network byte order, i.e. exactly the two bytes on the
 * wire (port 53 is the key bytes 00 35).
 *   blocklist  HASH __be16 port -> __u8 protocol mask: bit 0 (1) blocks UDP,
 *              bit 1 (2) blocks TCP, 3 blocks both. A port absent or with mask 0 is
 *              allowed. Filled by the operator (see port_blocklist.maps.json).
 *   drops      HASH __be16 port -> __u32 number of packets dropped for that port,
 *              created (at zero) by the program on the first drop.
 * Verdicts: XDP_DROP for a blocked UDP/TCP destination port; XDP_DROP for malformed
 *           frames (runt, cut VLAN tag, bad or cut IPv4/IPv6 header, cut UDP header,
 *           cut TCP header or TCP data offset < 5); XDP_PASS for non-IP frames, other
 *           L4 protocols (ICMP, IPv6 extension headers...), non-first IPv4 fragments
 *           (they carry no port) and allowed ports.
 * NFP offload: yes — HASH maps with 2-byte keys and 1/4-byte values; helpers
 *           map_lookup and map_update; drop counters bumped by atomic add only.
 *           The nfp driver wants a counter that is added to atomically to be created
 *           with bytes its verifier knows are zero (nfp_bpf_map_update_value_ok: the
 *           card keeps counters big-endian), and since Linux 6.8 the verifier records
 *           an 8-byte-aligned store of zero as a spilled register, not as zero bytes:
 *           the zero must sit at a 4-byte stack slot that is not 8-byte aligned, so the
 *           counters are __u32 and `zero` is declared first (clang puts it at fp-4).
 */
#include "parsing.h"

#define BLOCK_UDP 1
#define BLOCK_TCP 2

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be16);
	__type(value, __u8);
} blocklist SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __be16);
	__type(value, __u32);
} drops SEC(".maps");

static __always_inline void count_drop(__be16 wire_port)
{
	__u32 zero = 0;	/* first: at fp-4, see the NFP note above */
	/* Map keys on the stack 4-byte aligned: the NFP offload refuses helper
	 * arguments at unaligned stack offsets (nfp bpf/verifier.c). */
	__be16 port __attribute__((aligned(4))) = wire_port;
	__u32 *count = bpf_map_lookup_elem(&drops, &port);

	if (!count) {
		bpf_map_update_elem(&drops, &port, &zero, BPF_NOEXIST);
		count = bpf_map_lookup_elem(&drops, &port);
		if (!count)
			return;
	}
	__sync_fetch_and_add(count, 1);
}

SEC("xdp")
int xdp_port_blocklist(struct xdp_md *ctx)
{
	struct headers h = {};
	struct cursor c;
	__be16 port __attribute__((aligned(4)));	/* NFP: aligned stack key */
	__u8 block_bit, *mask;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_to_l4(&c, &h);
	if (proto == PARSE_MALFORMED)
		return XDP_DROP;
	if (proto == PARSE_NOT_IP)
		return XDP_PASS;
	if (h.ip4 && ipv4_is_later_fragment(h.ip4))
		return XDP_PASS;

	if (proto == IPPROTO_UDP) {
		struct udphdr *udp = parse_udp(&c);

		if (!udp)
			return XDP_DROP;
		port = udp->dest;
		block_bit = BLOCK_UDP;
	} else if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = parse_tcp(&c);

		if (!tcp)
			return XDP_DROP;
		port = tcp->dest;
		block_bit = BLOCK_TCP;
	} else {
		return XDP_PASS;
	}

	mask = bpf_map_lookup_elem(&blocklist, &port);
	if (!mask || !(*mask & block_bit))
		return XDP_PASS;
	count_drop(port);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
