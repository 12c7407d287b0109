/* syn_ratelimit.c — limit TCP SYNs per IPv4 source address, a SYN-flood guard.
 *
 * For every IPv4 TCP segment with SYN set and ACK clear (a connection attempt), the
 * source address's record in an LRU hash is consulted: a record older than one
 * second (WINDOW_NS, bpf_ktime_get_ns) starts a new window; within a window the
 * first SYN_LIMIT (5) SYNs pass and the rest are dropped. The LRU map evicts the
 * least recently seen sources when full, so a spoofed flood cannot exhaust it.
 *
 * Maps:
 *   syn_sources  LRU_HASH[4096] __be32 source address (network order) ->
 *                struct syn_window { __u64 start_ns; __u64 count; }.
 * Verdicts: XDP_DROP for the SYNs beyond SYN_LIMIT in one window from one source
 *           and for malformed frames (runt, cut VLAN tag, bad or cut IPv4/IPv6
 *           header, cut TCP header); XDP_PASS for everything else (non-IP, IPv6,
 *           non-TCP, SYN+ACK and other segments, non-first fragments). Expected
 *           verdicts assume the whole capture is replayed within one second.
 * NFP offload: no — LRU_HASH map, helper ktime_get_ns, and the record is written
 *           in place (map writes).
 */
#include "parsing.h"

#define SYN_LIMIT 5
#define WINDOW_NS 1000000000ULL

struct syn_window {
	__u64 start_ns;
	__u64 count;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __be32);
	__type(value, struct syn_window);
} syn_sources SEC(".maps");

/* Counts one SYN from saddr; returns nonzero when it is over the limit. */
static __always_inline int syn_over_limit(__be32 saddr)
{
	struct syn_window *win = bpf_map_lookup_elem(&syn_sources, &saddr);
	__u64 now = bpf_ktime_get_ns();

	if (!win || now - win->start_ns > WINDOW_NS) {
		struct syn_window fresh = { .start_ns = now, .count = 1 };

		bpf_map_update_elem(&syn_sources, &saddr, &fresh, BPF_ANY);
		return 0;
	}
	win->count++;
	return win->count > SYN_LIMIT;
}

SEC("xdp")
int xdp_syn_ratelimit(struct xdp_md *ctx)
{
	struct headers h = {};
	struct tcphdr *tcp;
	struct cursor c;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_to_l4(&c, &h);
	if (proto == PARSE_MALFORMED)
		return XDP_DROP;
	if (proto != IPPROTO_TCP || !h.ip4 || ipv4_is_later_fragment(h.ip4))
		return XDP_PASS;
	tcp = parse_tcp(&c);
	if (!tcp)
		return XDP_DROP;
	if (!tcp->syn || tcp->ack)
		return XDP_PASS;
	return syn_over_limit(h.ip4->saddr) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
