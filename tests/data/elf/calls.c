// Fixture: a recursive callee, a static callee living in the program's own
// section (no relocation: pc-relative call), and a large .bss.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char big_buffer[1 << 16];                          /* .bss */

static __attribute__((noinline)) int fib(int n)
{
	if (n < 2)
		return n;
	return fib(n - 1) * 3 + fib(n - 2);
}

static __attribute__((noinline, section("xdp"))) int same_section(int x)
{
	return x ^ 0x55;
}

SEC("xdp")
int calls_prog(struct xdp_md *ctx)
{
	int n = ctx->ingress_ifindex & 7;
	big_buffer[n] = 1;
	return same_section(fib(n)) & 3;
}

char LICENSE[] SEC("license") = "GPL";
