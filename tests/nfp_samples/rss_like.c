/* rss_like.c — the driver-relevant feature of Netronome's programmable_rss sample
 * (bpf-samples/programmable_rss), written for xdptool's probe corpus (not its code): choose
 * the receive queue in the program.  A hash of the IPv4 addresses indexes an indirection
 * table (ARRAY) whose entry is written to ctx->rx_queue_index; a control ARRAY can turn it
 * off.  Only an offloaded program may write rx_queue_index (net/core/filter.c
 * xdp_is_valid_access; the nfp JIT's nfp_queue_select needs the firmware's QUEUE_SELECT). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TABLE 128

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);	/* non-zero: select queues */
} control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, TABLE);
	__type(key, __u32);
	__type(value, __u32);	/* the queue */
} indirection SEC(".maps");

SEC("xdp")
int rss_like(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 key = 0, *on, *queue;

	on = bpf_map_lookup_elem(&control, &key);
	if (!on || !*on)
		return XDP_PASS;
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	key = (ip->saddr ^ ip->daddr ^ (ip->saddr >> 16)) & (TABLE - 1);	/* & not %: no MOD on the NFP */
	queue = bpf_map_lookup_elem(&indirection, &key);
	if (!queue)
		return XDP_PASS;
	ctx->rx_queue_index = *queue;
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
