/* xdpdump_like.c — the driver-relevant feature of Netronome's xdpdump sample
 * (bpf-samples/xdpdump), written for xdptool's probe corpus (not its code): send each IPv4
 * packet's addresses and length, with the packet itself, to user space through a
 * PERF_EVENT_ARRAY with bpf_perf_event_output.  The map stays on the host (offload
 * neutral); the driver wants the flags' index part to be BPF_F_CURRENT_CPU
 * (nfp_bpf_check_helper_call) — the upper half carries how many packet bytes to copy. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct meta {
	__be32 saddr;
	__be32 daddr;
	__u16 len;
	__u16 proto;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 64);
} events SEC(".maps");

SEC("xdp")
int xdpdump_like(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct meta meta;
	__u64 flags;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	meta.saddr = ip->saddr;
	meta.daddr = ip->daddr;
	meta.len = end - data;
	meta.proto = ip->protocol;
	flags = ((__u64)meta.len << 32) | BPF_F_CURRENT_CPU;
	bpf_perf_event_output(ctx, &events, flags, &meta, sizeof(meta));
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
