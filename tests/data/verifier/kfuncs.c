/* Kfunc calls from XDP programs (tests/test_verifier_kfuncs.py); LICENSE is set by the test. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int bpf_xdp_metadata_rx_hash(const struct xdp_md *ctx, __u32 *hash, __u32 *rss_type) __ksym;
extern int bpf_xdp_metadata_rx_timestamp(const struct xdp_md *ctx, __u64 *timestamp) __ksym;
extern long bpf_dynptr_from_skb(void *skb, __u64 flags, void *ptr) __ksym;
extern long bpf_sock_destroy(void *sock) __ksym;
extern int bpf_iter_num_new(void *it, int start, int end) __ksym;
extern void *bpf_task_acquire(void *task) __ksym;
extern void bpf_rcu_read_lock(void) __ksym;
extern int bpf_no_such_kfunc(void) __ksym;

SEC("xdp") int rx_hash(struct xdp_md *ctx)
{
	__u32 hash = 0, type = 0;

	return bpf_xdp_metadata_rx_hash(ctx, &hash, &type) ? XDP_PASS : (hash & 1) + 1;
}

SEC("xdp") int rx_timestamp(struct xdp_md *ctx)
{
	__u64 ts = 0;

	return bpf_xdp_metadata_rx_timestamp(ctx, &ts) ? XDP_PASS : (ts & 1) + 1;
}

SEC("xdp") int skb_dynptr(struct xdp_md *ctx)
{
	__u64 dynptr[2];

	return bpf_dynptr_from_skb(ctx, 0, dynptr) ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int sock_destroy(struct xdp_md *ctx)
{
	return bpf_sock_destroy(ctx) ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int iter_num(struct xdp_md *ctx)
{
	__u64 it[1];

	return bpf_iter_num_new(it, 0, 10) ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int rcu_lock(struct xdp_md *ctx)
{
	bpf_rcu_read_lock();
	return XDP_PASS;
}

SEC("xdp") int task_acquire(struct xdp_md *ctx)
{
	return bpf_task_acquire(ctx) ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int no_such_kfunc(struct xdp_md *ctx)
{
	return bpf_no_such_kfunc() ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = LICENSE;
