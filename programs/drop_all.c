/* drop_all.c — drop every packet: the smallest useful XDP program and the
 * baseline for XDP_DROP throughput (the "line-rate drop" benchmark).
 *
 * Maps: none.
 * Verdicts: XDP_DROP for every packet, whatever its length or content.
 * NFP offload: yes — no maps, no helpers, two instructions.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop_all(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
