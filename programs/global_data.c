/* global_data.c — an MTU guard configured and observed through global variables
 * instead of explicit maps.
 *
 * Frames longer than `mtu_limit` bytes are dropped. The configuration and the
 * statistics are plain C globals; the loader turns each section into a one-entry
 * ARRAY map whose value is the section's bytes:
 *   .data   __u32 mtu_limit = 1000     (writable configuration)
 *   .bss    __u64 passed_packets, dropped_packets, dropped_bytes  (start at 0)
 *   .rodata const volatile __u8 enforce = 1   (0: count only, never drop)
 * The counters are bumped with atomic adds (shared by all CPUs).
 *
 * Maps: the global-data maps .data, .bss and .rodata described above.
 * Verdicts: XDP_DROP for frames longer than mtu_limit (while enforce is 1);
 *           XDP_PASS for all other frames, runts included.
 * NFP offload: no — global data maps carry map flags (BPF_F_MMAPABLE,
 *           BPF_F_RDONLY_PROG) that the NFP refuses.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 mtu_limit = 1000;
const volatile __u8 enforce = 1;

__u64 passed_packets;
__u64 dropped_packets;
__u64 dropped_bytes;

SEC("xdp")
int xdp_global_data(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	if (enforce && len > mtu_limit) {
		__sync_fetch_and_add(&dropped_packets, 1);
		__sync_fetch_and_add(&dropped_bytes, len);
		return XDP_DROP;
	}
	__sync_fetch_and_add(&passed_packets, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
