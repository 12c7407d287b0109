/* payload_scan.c — a one-signature intrusion filter: drop UDP packets whose payload
 * contains the 4 bytes de ad be ef, scanning with the bpf_loop helper.
 *
 * bpf_loop (Linux >= 5.17) calls scan_step once per payload offset (at most
 * MAX_SCAN = 256 offsets); the callback compares the 4 bytes at that offset with the
 * signature and stops the loop (returns 1) on a match or at the end of the packet.
 * The verifier checks the callback once instead of unrolling the loop.
 *
 * Maps:
 *   scan_stats  ARRAY[2] of __u64: [0] UDP payloads scanned, [1] signatures found.
 * Verdicts: XDP_DROP for IPv4/IPv6 UDP packets with the signature in the first
 *           256 + 3 payload bytes and for malformed frames (runt, cut VLAN tag, bad
 *           or cut IP header, cut UDP header); XDP_PASS for everything else.
 * NFP offload: no — helper bpf_loop (callbacks) is not offloadable.
 */
#include "parsing.h"
#include "counters.h"

#define MAX_SCAN 256
#define SIG0 0xde
#define SIG1 0xad
#define SIG2 0xbe
#define SIG3 0xef

enum scan_stat { SCANNED = 0, FOUND = 1 };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} scan_stats SEC(".maps");

struct scan_state {
	__u8 *payload;
	void *end;
	int found;
};

static long scan_step(__u32 index, void *arg)
{
	struct scan_state *st = arg;
	__u8 *p = st->payload;

	if (index >= MAX_SCAN)
		return 1;
	p += index;
	if ((void *)(p + 4) > st->end)
		return 1;
	if (p[0] == SIG0 && p[1] == SIG1 && p[2] == SIG2 && p[3] == SIG3) {
		st->found = 1;
		return 1;
	}
	return 0;
}

SEC("xdp")
int xdp_payload_scan(struct xdp_md *ctx)
{
	struct headers h = {};
	struct scan_state st = {};
	struct cursor c;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_to_l4(&c, &h);
	if (proto == PARSE_MALFORMED)
		return XDP_DROP;
	if (proto != IPPROTO_UDP || (h.ip4 && ipv4_is_later_fragment(h.ip4)))
		return XDP_PASS;
	if (!parse_udp(&c))
		return XDP_DROP;

	st.payload = c.pos;
	st.end = c.end;
	counter_add(&scan_stats, SCANNED, 1);
	bpf_loop(MAX_SCAN, scan_step, &st, 0);
	if (!st.found)
		return XDP_PASS;
	counter_add(&scan_stats, FOUND, 1);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
