/* A bounded walk over packet bytes with cond_break: the index is precise (it moves a
 * packet pointer), so the loop is unrolled up to its bound. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "may_goto.h"

SEC("xdp") int sum_header(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 sum = 0;

	for (int i = 0; i < 20; i++) {
		if (data + i + 1 > end)
			break;
		sum += data[i];
		cond_break;
	}
	return sum & 1 ? XDP_DROP : XDP_PASS;
}
char _license[] SEC("license") = "GPL";
