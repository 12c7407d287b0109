#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* bpf_strtol/strtoul are base helpers an XDP program may call (Linux 6.18): the result
 * goes into 8 aligned bytes that may start uninitialised */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	char digits[4] = "42";
	long value;
	unsigned long uvalue;

	if (bpf_strtol(digits, sizeof(digits), 0, &value) < 0)
		return XDP_PASS;
	if (bpf_strtoul(digits, sizeof(digits), 0, &uvalue) < 0)
		return XDP_PASS;
	return value == 42 && uvalue == 42 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
