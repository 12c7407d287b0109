/* A DNS query-name walk over packet bytes, label by label, with data-dependent
 * branches in the loop body (issue 16, Build 1; tests/test_verifier_loops_converge.py).
 * Bounded loops: the kernel accepts them by exploring every iteration, pruning each
 * one against the states it saw at the loop head. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_LABELS 8 /* labels of the query name walked at most */

struct dnshdr {
	__u16 id, flags, qdcount, ancount, nscount, arcount;
};

SEC("xdp") int dns_walk(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct dnshdr *dns = (void *)(udp + 1);
	__u8 *label = (void *)(dns + 1);
	__u32 hash = 2166136261u;
	int i, j;

	if ((void *)(dns + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(53) || dns->flags & bpf_htons(0x8000))
		return XDP_PASS;
	for (i = 0; i < MAX_LABELS; i++) {            /* label by label */
		__u8 len;

		if ((void *)(label + 1) > end)
			return XDP_PASS;              /* truncated name */
		len = *label;
		if (len == 0)
			break;                        /* the root label: done */
		if (len > 63)
			return XDP_DROP;              /* a compression pointer or junk in a query */
		for (j = 0; j < 63; j++) {            /* the label's bytes */
			__u8 *q = label + 1 + j, c;

			if (j >= len)
				break;
			if ((void *)(q + 1) > end)
				return XDP_PASS;
			c = *q;
			if (c >= 'A' && c <= 'Z')
				c += 'a' - 'A';       /* names compare case-insensitively */
			else if (c == '-' || c == '_')
				hash ^= 0x5bd1e995;
			else if (c < '0' || c > 'z')
				return XDP_DROP;      /* not a host name */
			hash = (hash ^ c) * 16777619u;
		}
		/* the next label: its length byte read again (volatile: clang would reuse len,
		 * whose value the walk knows after the inner loop, one state per length) */
		label += *(volatile __u8 *)label + 1;
	}
	return hash % 5 == 0 ? XDP_DROP : XDP_PASS;
}

/* The same walk byte by byte: a length byte starts a label, `left` counts its bytes down.
 * `left` decides a branch only right after a length byte was loaded; afterwards it drifts
 * undecided, imprecise in the kernel's terms, and the iterations' states match. */
SEC("xdp") int dns_walk_bytes(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	struct dnshdr *dns = (void *)(udp + 1);
	__u8 *p = (void *)(dns + 1);
	__u32 hash = 2166136261u, left = 0;
	int i;

	if ((void *)(dns + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(53))
		return XDP_PASS;
	for (i = 0; i < 128; i++) {
		__u8 c;

		if ((void *)(p + 1) > end)
			return XDP_PASS;
		c = *p++;
		if (left == 0) {                      /* a length byte */
			if (c == 0)
				break;
			if (c > 63)
				return XDP_DROP;
			left = c;
			continue;
		}
		left--;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		else if (c == '-' || c == '_')
			hash ^= 0x5bd1e995;
		hash = (hash ^ c) * 16777619u;
	}
	return hash % 5 == 0 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
