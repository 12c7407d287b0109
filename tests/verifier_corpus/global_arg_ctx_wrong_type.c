#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* arg:ctx on a pointer to anything but void or struct xdp_md is refused for XDP */
__attribute__((noinline)) int first_word(__u64 *ctx __attribute__((btf_decl_tag("arg:ctx"))))
{
	return ctx != 0;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return first_word((__u64 *)ctx) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
