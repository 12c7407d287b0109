/* A payload signature search followed by a bpf_loop() checksum over the payload
 * (issue 16, Build 1; tests/test_verifier_loops_converge.py). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SEARCH 48  /* payload offsets searched for the signature */
#define CSUM 256   /* payload bytes summed at most */

struct csum_ctx {
	struct xdp_md *xdp;
	__u32 off;  /* payload offset in the packet */
	__u32 sum;
};

static long csum_byte(__u32 index, void *arg)
{
	struct csum_ctx *c = arg;
	void *data = (void *)(long)c->xdp->data, *end = (void *)(long)c->xdp->data_end;
	__u8 *b = data + (c->off & 0xff) + (index & 0x1ff);

	if ((void *)(b + 1) > end)
		return 1;  /* end of the payload: stop */
	c->sum += index & 1 ? *b : (__u32)*b << 8;
	return 0;
}

SEC("xdp") int sig_csum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u8 *payload = (void *)(udp + 1);
	struct csum_ctx c = { .xdp = ctx, .off = (__u8 *)payload - (__u8 *)data };
	int i;

	if ((void *)payload > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	for (i = 0; i < SEARCH; i++) {
		__u8 *p = payload + i;

		if ((void *)(p + 4) > end)
			break;
		if (p[0] != 'E')
			continue;
		if (p[1] == 'V' && p[2] == 'I' && p[3] == 'L')
			return XDP_DROP;      /* the signature */
		if (p[1] == 'v' && p[2] == 'i')
			i += 2;               /* a near miss: skip it */
	}
	bpf_loop(CSUM, csum_byte, &c, 0);
	c.sum = (c.sum & 0xffff) + (c.sum >> 16);
	return c.sum == 0xffff ? XDP_ABORTED : XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
