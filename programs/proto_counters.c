/* proto_counters.c — count packets and bytes per protocol, pass everything.
 *
 * A passive monitor: classifies each frame (behind up to two VLAN tags) and bumps a
 * packet counter in a shared ARRAY (atomic add) and a byte counter (frame length)
 * in a PERCPU_ARRAY (plain add: each CPU owns its slot, the reader sums them).
 *
 * Counter index ("class"):
 *   0..255  IPv4 protocol / IPv6 next header (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...)
 *   256     ARP
 *   257     any other non-IP frame (LLDP, a third VLAN tag, ...)
 *   258     malformed (runt, cut VLAN tag, bad or cut IP header)
 * Maps:
 *   packets  ARRAY[259] of __u64: packets per class.
 *   bytes    PERCPU_ARRAY[259] of __u64: bytes per class (data_end - data).
 * Verdicts: XDP_PASS for every frame.
 * NFP offload: no — PERCPU_ARRAY is not an offloadable map type (HASH/ARRAY only).
 */
#include "parsing.h"
#include "counters.h"

#define CLASS_ARP 256
#define CLASS_OTHER_L2 257
#define CLASS_MALFORMED 258
#define NUM_CLASSES 259

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NUM_CLASSES);
	__type(key, __u32);
	__type(value, __u64);
} packets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NUM_CLASSES);
	__type(key, __u32);
	__type(value, __u64);
} bytes SEC(".maps");

SEC("xdp")
int xdp_proto_counters(struct xdp_md *ctx)
{
	struct headers h = {};
	struct cursor c;
	__u64 *byte_count;
	__u32 class;
	int proto;

	cursor_init(&c, ctx);
	proto = parse_to_l4(&c, &h);
	if (proto == PARSE_MALFORMED)
		class = CLASS_MALFORMED;
	else if (proto == PARSE_NOT_IP)
		class = h.l3_proto == bpf_htons(ETH_P_ARP) ? CLASS_ARP : CLASS_OTHER_L2;
	else
		class = proto;

	counter_add(&packets, class, 1);
	byte_count = bpf_map_lookup_elem(&bytes, &class);
	if (byte_count)
		*byte_count += ctx->data_end - ctx->data;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
