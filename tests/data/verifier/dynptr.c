/* Dynptrs: each program is judged by xdptool's verifier and by the live kernel
 * (tests/test_verifier_dynptr.py); the accepted ones also run on the engines and the kernel. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int bpf_dynptr_from_xdp(struct xdp_md *xdp, __u64 flags, struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt, __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *p, __u32 offset, void *buffer__opt,
				   __u32 buffer__szk) __ksym;
extern int bpf_dynptr_adjust(const struct bpf_dynptr *p, __u32 start, __u32 end) __ksym;
extern __u32 bpf_dynptr_size(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_is_null(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_is_rdonly(const struct bpf_dynptr *p) __ksym;
extern int bpf_dynptr_clone(const struct bpf_dynptr *p, struct bpf_dynptr *clone__uninit) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[32]);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} out SEC(".maps");

static __always_inline void note(__u64 v)
{
	__u32 k = 0;
	__u64 *o = bpf_map_lookup_elem(&out, &k);
	if (o)
		*o = v;
}

/* -- accepted ------------------------------------------------------------------------- */
SEC("xdp") int slice_proto(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *eth;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	eth = bpf_dynptr_slice(&p, 0, NULL, 14);
	if (!eth)
		return XDP_ABORTED;
	return eth[12] == 0x08 ? XDP_PASS : XDP_DROP;
}

/* (Linux 6.18 refuses bpf_dynptr_slice_rdwr in XDP programs: "bpf_dynptr_slice_rdwr() is not allowed") */
SEC("xdp") int slice_rdwr_swap(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *eth, t;
	int i;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	eth = bpf_dynptr_slice_rdwr(&p, 0, NULL, 12);
	if (!eth)
		return XDP_DROP;
	for (i = 0; i < 6; i++) {
		t = eth[i];
		eth[i] = eth[i + 6];
		eth[i + 6] = t;
	}
	return XDP_TX;
}

SEC("xdp") int slice_with_buffer(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 buf[20] = {};
	__u8 *ip;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	ip = bpf_dynptr_slice(&p, 14, buf, sizeof(buf));
	if (!ip)
		return XDP_DROP;
	note(ip[9] | (ip == buf) << 8);
	return XDP_PASS;
}

SEC("xdp") int read_write(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 mac[6];
	long r;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	r = bpf_dynptr_read(mac, sizeof(mac), &p, 6, 0);
	if (r)
		return XDP_ABORTED;
	r = bpf_dynptr_write(&p, 0, mac, sizeof(mac), 0);
	note(r);
	return XDP_TX;
}

SEC("xdp") int read_past_end(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 b[4] = {};
	long r;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	r = bpf_dynptr_read(b, sizeof(b), &p, bpf_dynptr_size(&p) - 2, 0);
	note((__u64)r);
	return XDP_PASS;
}

SEC("xdp") int size_adjust(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u64 v;
	__u8 *ip;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	v = bpf_dynptr_size(&p);
	v = v << 8 | (bpf_dynptr_adjust(&p, 14, 34) & 0xff);
	v = v << 16 | bpf_dynptr_size(&p);
	v = v << 8 | bpf_dynptr_is_null(&p) << 1 | bpf_dynptr_is_rdonly(&p);
	ip = bpf_dynptr_slice(&p, 0, NULL, 20);
	if (ip)
		v = v << 8 | ip[9];
	v = v << 8 | (bpf_dynptr_adjust(&p, 10, 5) & 0xff);
	note(v);
	return XDP_PASS;
}

SEC("xdp") int bad_flags(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	int r = bpf_dynptr_from_xdp(ctx, 1, &p);

	note((__u64)(long)r << 8 | bpf_dynptr_is_null(&p) | bpf_dynptr_size(&p) << 1);
	return XDP_PASS;
}

SEC("xdp") int clone_slice(struct xdp_md *ctx)
{
	struct bpf_dynptr p, c;
	__u8 *b;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	bpf_dynptr_clone(&p, &c);
	bpf_dynptr_adjust(&c, 12, 14);
	b = bpf_dynptr_slice(&c, 0, NULL, 2);
	if (!b)
		return XDP_DROP;
	note(b[0] << 8 | b[1] | (__u64)bpf_dynptr_size(&p) << 16);
	return XDP_PASS;
}

SEC("xdp") int slice_oob_null(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *b;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	b = bpf_dynptr_slice(&p, 60000, NULL, 4);
	return b ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int local_map(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u32 k = 0;
	__u8 *v, *d;

	v = bpf_map_lookup_elem(&arr, &k);
	if (!v)
		return XDP_DROP;
	bpf_dynptr_from_mem(v, 32, 0, &p);
	d = bpf_dynptr_data(&p, 4, 8);
	if (!d)
		return XDP_DROP;
	d[0] = 7;
	bpf_dynptr_write(&p, 8, &k, sizeof(k), 0);
	note(v[4] | bpf_dynptr_size(&p) << 8);
	return XDP_PASS;
}

SEC("xdp") int xdp_data_is_null(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	return bpf_dynptr_data(&p, 0, 4) ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int ringbuf_submit(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u64 v = 0x1122334455667788;

	bpf_ringbuf_reserve_dynptr(&rb, 16, 0, &p);
	bpf_dynptr_write(&p, 0, &v, sizeof(v), 0);
	bpf_ringbuf_submit_dynptr(&p, 0);
	return XDP_PASS;
}

SEC("xdp") int ringbuf_discard(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *d;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &p);
	d = bpf_dynptr_data(&p, 0, 8);
	if (d)
		d[0] = 1;
	bpf_ringbuf_discard_dynptr(&p, 0);
	return XDP_PASS;
}

SEC("xdp") int ringbuf_clone_submit(struct xdp_md *ctx)
{
	struct bpf_dynptr p, c;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &p);
	bpf_dynptr_clone(&p, &c);
	bpf_ringbuf_submit_dynptr(&c, 0);
	return XDP_PASS;
}

SEC("xdp") int overwrite_unreferenced(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	*(volatile __u64 *)&p = 0;
	return XDP_PASS;
}

__noinline int g_size(struct bpf_dynptr *p)
{
	return bpf_dynptr_size(p) > 20;
}

SEC("xdp") int global_dynptr(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	return g_size(&p) ? XDP_PASS : XDP_DROP;
}

/* -- refused -------------------------------------------------------------------------- */
SEC("xdp") int uninit_slice(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *b = bpf_dynptr_slice(&p, 0, NULL, 1);

	return b ? b[0] : 0;
}

SEC("xdp") int ringbuf_leak(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &p);
	return XDP_PASS;
}

SEC("xdp") int ringbuf_overwrite(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &p);
	*(volatile __u64 *)&p = 0;
	bpf_ringbuf_discard_dynptr(&p, 0);
	return XDP_PASS;
}

SEC("xdp") int read_dynptr_bytes(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	return *(volatile __u64 *)&p;
}

SEC("xdp") int helper_writes_dynptr(struct xdp_md *ctx)
{
	struct bpf_dynptr p, q;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	bpf_dynptr_from_xdp(ctx, 0, &q);
	bpf_dynptr_read(&q, 8, &p, 0, 0);
	return XDP_PASS;
}

SEC("xdp") int slice_after_adjust_head(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *eth;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	eth = bpf_dynptr_slice(&p, 0, NULL, 14);
	if (!eth)
		return XDP_DROP;
	bpf_xdp_adjust_head(ctx, 0);
	return eth[12];
}

SEC("xdp") int rdonly_slice_write(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *eth;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	eth = bpf_dynptr_slice(&p, 0, NULL, 14);
	if (!eth)
		return XDP_DROP;
	eth[0] = 1;
	return XDP_PASS;
}

SEC("xdp") int slice_past_size(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	volatile __u8 *eth;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	eth = bpf_dynptr_slice(&p, 0, NULL, 14);
	if (!eth)
		return XDP_DROP;
	return eth[14];
}

SEC("xdp") int slice_unchecked(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *eth;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	eth = bpf_dynptr_slice(&p, 0, NULL, 14);
	return eth[12];
}

SEC("xdp") int slice_var_size(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *eth;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	eth = bpf_dynptr_slice(&p, 0, NULL, ctx->ingress_ifindex & 7);
	return eth ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int submit_xdp_dynptr(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	bpf_ringbuf_submit_dynptr(&p, 0);
	return XDP_PASS;
}

SEC("xdp") int from_mem_stack(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 buf[8] = {};

	bpf_dynptr_from_mem(buf, sizeof(buf), 0, &p);
	return XDP_PASS;
}

SEC("xdp") int misaligned_dynptr(struct xdp_md *ctx)
{
	__u64 buf[3];

	bpf_dynptr_from_xdp(ctx, 0, (void *)((char *)buf + 4));
	return XDP_PASS;
}

SEC("xdp") int partial_overwrite(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *b;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	((volatile __u32 *)&p)[3] = 0;
	b = bpf_dynptr_slice(&p, 0, NULL, 1);
	return b ? b[0] : 0;
}

SEC("xdp") int clone_after_release(struct xdp_md *ctx)
{
	struct bpf_dynptr p, c;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &p);
	bpf_dynptr_clone(&p, &c);
	bpf_ringbuf_submit_dynptr(&p, 0);
	return bpf_dynptr_size(&c);
}

SEC("xdp") int data_after_submit(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *d;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &p);
	d = bpf_dynptr_data(&p, 0, 8);
	bpf_ringbuf_submit_dynptr(&p, 0);
	return d ? d[0] : 0;
}

SEC("xdp") int data_after_overwrite(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u32 k = 0;
	__u8 *v, *d;

	v = bpf_map_lookup_elem(&arr, &k);
	if (!v)
		return XDP_DROP;
	bpf_dynptr_from_mem(v, 32, 0, &p);
	d = bpf_dynptr_data(&p, 0, 8);
	*(volatile __u64 *)&p = 0;
	return d ? d[0] : 0;
}

SEC("xdp") int slice_after_overwrite(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 *b;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	b = bpf_dynptr_slice(&p, 0, NULL, 1);
	*(volatile __u64 *)&p = 0;
	return b ? b[0] : 0;
}

SEC("xdp") int global_uninit(struct xdp_md *ctx)
{
	struct bpf_dynptr p;

	return g_size(&p);
}

SEC("xdp") int global_not_stack(struct xdp_md *ctx)
{
	return g_size((void *)ctx);
}

SEC("xdp") int data_len_var(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u32 k = 0;
	__u8 *v, *d;

	v = bpf_map_lookup_elem(&arr, &k);
	if (!v)
		return XDP_DROP;
	bpf_dynptr_from_mem(v, 32, 0, &p);
	d = bpf_dynptr_data(&p, 0, ctx->ingress_ifindex & 7);
	return d ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int slice_buffer_too_small(struct xdp_md *ctx)
{
	struct bpf_dynptr p;
	__u8 buf[4] = {};
	__u8 *b;

	bpf_dynptr_from_xdp(ctx, 0, &p);
	b = bpf_dynptr_slice(&p, 0, buf, 8);
	return b ? b[0] : 0;
}

char _license[] SEC("license") = "GPL";
