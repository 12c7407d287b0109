/* A subprogram stores a value of its own stack into its caller's through a pointer; the
 * caller then indexes an 8-byte buffer with it.  The path that stores 64 meets the path
 * that stored 0 at the join in the subprogram: the two differ only in the subprogram's
 * slot, which must count as precise there (its value decides the caller's access after
 * the return), or the second path is pruned and the out-of-bounds read accepted.
 * tests/test_verifier_callbacks.py */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static __attribute__((noinline)) int fill(struct xdp_md *ctx, __u64 *out)
{
	volatile __u64 local = 64;
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (data + 100 < end)
		local = 0;
	asm volatile("" ::: "memory");
	*out = local;
	return 0;
}

SEC("xdp") int via_callee_stack(struct xdp_md *ctx)
{
	__u64 x = 0;
	__u8 buf[8] = {};

	fill(ctx, &x);
	return ((volatile __u8 *)buf)[x];
}

char _license[] SEC("license") = "GPL";
