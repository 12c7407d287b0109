#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int f8(int x)
{
	return x;
}

static __attribute__((noinline)) int f7(int x)
{
	return f8(x + 1) + 1;
}

static __attribute__((noinline)) int f6(int x)
{
	return f7(x + 1) + 1;
}

static __attribute__((noinline)) int f5(int x)
{
	return f6(x + 1) + 1;
}

static __attribute__((noinline)) int f4(int x)
{
	return f5(x + 1) + 1;
}

static __attribute__((noinline)) int f3(int x)
{
	return f4(x + 1) + 1;
}

static __attribute__((noinline)) int f2(int x)
{
	return f3(x + 1) + 1;
}

static __attribute__((noinline)) int f1(int x)
{
	return f2(x + 1) + 1;
}

static __attribute__((noinline)) int f0(int x)
{
	return f1(x + 1) + 1;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return f0(ctx->rx_queue_index) & 3;
}

char _license[] SEC("license") = "GPL";
