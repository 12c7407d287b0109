/* ip_parse.c — validate IPv4 / IPv6 headers behind up to two VLAN tags and count
 * packets per L4 protocol.
 *
 * Walks Ethernet, then up to two 802.1Q / 802.1ad tags (QinQ), then the IPv4 header
 * (version 4, IHL >= 5, options inside the frame, tot_len >= header length) or the
 * fixed IPv6 header (version 6). IPv6 extension headers are not walked: the counted
 * protocol is the IPv6 Next Header field (see bounded_loop.c for the walk).
 *
 * Maps:
 *   l4_counts    ARRAY[256] of __u64: packets per L4 protocol number (index = IPv4
 *                protocol / IPv6 next header byte, e.g. 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
 *   parse_stats  ARRAY[2] of __u64: [0] frames that are not IP (ARP, LLDP, a third
 *                VLAN tag...), [1] malformed frames that were dropped.
 * Verdicts: XDP_DROP for malformed frames (runt < 14 bytes, cut VLAN tag, cut IPv4 or
 *           IPv6 header, IPv4 version != 4 or IHL < 5 or options beyond the frame or
 *           tot_len < header length, IPv6 version != 6); XDP_PASS for everything else.
 * NFP offload: yes — ARRAY maps only, map_lookup + atomic add, no other helpers.
 */
#include "parsing.h"
#include "counters.h"

enum parse_stat { STAT_NOT_IP = 0, STAT_MALFORMED = 1 };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} l4_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} parse_stats SEC(".maps");

SEC("xdp")
int xdp_ip_parse(struct xdp_md *ctx)
{
	struct headers h = {};
	struct cursor c;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_to_l4(&c, &h);
	if (proto == PARSE_MALFORMED) {
		counter_add(&parse_stats, STAT_MALFORMED, 1);
		return XDP_DROP;
	}
	if (proto == PARSE_NOT_IP) {
		counter_add(&parse_stats, STAT_NOT_IP, 1);
		return XDP_PASS;
	}
	counter_add(&l4_counts, proto, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
