/* truncate.c — cut every frame longer than max_len bytes down to max_len, e.g. to
 * sample only the headers of a traffic mirror.
 *
 * max_len is a `const volatile` global: it lives in .rodata, which the loader turns
 * into a read-only ARRAY map, so a loader can set it before the program is loaded,
 * without recompiling. Default 128 bytes. The kernel refuses to
 * shrink below the 14-byte Ethernet header, so values under 14 make
 * bpf_xdp_adjust_tail fail.
 *
 * Maps: .rodata (global data): const volatile __u32 max_len = 128.
 * Verdicts: XDP_PASS for every frame, cut to max_len bytes when it was longer;
 *           XDP_ABORTED if bpf_xdp_adjust_tail refuses.
 * NFP offload: no — global data (.rodata) is a map with BPF_F_RDONLY_PROG and
 *           BPF_F_MMAPABLE flags, and the NFP accepts no map flags.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 max_len = 128;

SEC("xdp")
int xdp_truncate(struct xdp_md *ctx)
{
	__u32 len = ctx->data_end - ctx->data;

	if (len <= max_len)
		return XDP_PASS;
	if (bpf_xdp_adjust_tail(ctx, (int)max_len - (int)len))
		return XDP_ABORTED;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
