/* fib_forward: an IPv4/IPv6 router on XDP, answered by the runtime config.
 *
 * Each IPv4 or IPv6 frame is looked up with bpf_fib_lookup (the destination, tot_len, the
 * receiving ifindex).  A route found: the egress device's MTU is checked with bpf_check_mtu;
 * a frame that fits gets the route's source and next-hop MACs, its TTL / hop limit decreased
 * (IPv4 checksum updated as RFC 1624) and is redirected to the route's ifindex; one that does
 * not fit is dropped.  No route, a TTL of 1 or less, or an egress device check_mtu does not know:
 * XDP_PASS (the stack decides).  Anything else: XDP_PASS.
 *
 * stats (ARRAY, 4 x u64): [0] forwarded, [1] no route / not forwarded, [2] too big (route MTU
 * or device MTU), [3] passed for another reason.  Under xdptool the routes and device MTUs come
 * from the runtime config: `replay --runtime fib_forward.runtime.json`, or a spec's [runtime].
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

enum { FORWARDED, NO_ROUTE, TOO_BIG, PASSED, STATS };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline int count(__u32 what, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &what);

	if (n)
		*n += 1;
	return verdict;
}

SEC("xdp") int fib_forward(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct bpf_fib_lookup p = {};
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	__u32 mtu_len = 0;
	long rc;

	if ((void *)(eth + 1) > end)
		return count(PASSED, XDP_PASS);
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		ip4 = (void *)(eth + 1);
		if ((void *)(ip4 + 1) > end || ip4->ttl <= 1)
			return count(PASSED, XDP_PASS);
		p.family = AF_INET;
		p.tos = ip4->tos;
		p.l4_protocol = ip4->protocol;
		p.tot_len = bpf_ntohs(ip4->tot_len);
		p.ipv4_src = ip4->saddr;
		p.ipv4_dst = ip4->daddr;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end || ip6->hop_limit <= 1)
			return count(PASSED, XDP_PASS);
		p.family = AF_INET6;
		p.l4_protocol = ip6->nexthdr;
		p.tot_len = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		__builtin_memcpy(p.ipv6_src, &ip6->saddr, sizeof(p.ipv6_src));
		__builtin_memcpy(p.ipv6_dst, &ip6->daddr, sizeof(p.ipv6_dst));
	} else {
		return count(PASSED, XDP_PASS);
	}
	p.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &p, sizeof(p), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return count(TOO_BIG, XDP_DROP);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return count(NO_ROUTE, XDP_PASS);
	rc = bpf_check_mtu(ctx, p.ifindex, &mtu_len, 0, 0);
	if (rc < 0)
		return count(PASSED, XDP_PASS);
	if (rc == BPF_MTU_CHK_RET_FRAG_NEEDED)
		return count(TOO_BIG, XDP_DROP);

	/* the headers again: the compiler may merge the two paths' pointers (a NULL among them) */
	data = (void *)(long)ctx->data, end = (void *)(long)ctx->data_end;
	eth = data;
	if (p.family == AF_INET) {
		ip4 = (void *)(eth + 1);
		if ((void *)(ip4 + 1) > end)
			return count(PASSED, XDP_PASS);
		/* RFC 1624: ttl is the high byte of the 16-bit word it shares with protocol */
		__u32 sum = (__u16)~ip4->check + (__u16)~bpf_htons(0x0100);

		ip4->ttl--;
		sum = (sum & 0xffff) + (sum >> 16);
		ip4->check = ~(__u16)(sum + (sum >> 16));
	} else {
		ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > end)
			return count(PASSED, XDP_PASS);
		ip6->hop_limit--;
	}
	__builtin_memcpy(eth->h_source, p.smac, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, p.dmac, ETH_ALEN);
	count(FORWARDED, 0);
	return bpf_redirect(p.ifindex, 0);
}

char _license[] SEC("license") = "GPL";
