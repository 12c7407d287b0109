/* Open-coded iterators (bpf_iter_num_*, bpf_iter_bits_*): each program is judged by
 * xdptool's verifier and by the live kernel (tests/test_verifier_iterators.py). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* include/uapi/linux/bpf.h of Linux 6.4+ (this libc's headers predate them) */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));
struct bpf_iter_bits {
	__u64 __opaque[2];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __ksym;
extern int bpf_iter_bits_new(struct bpf_iter_bits *it, const __u64 *unsafe_ptr__ign, __u32 nr_words) __ksym;
extern int *bpf_iter_bits_next(struct bpf_iter_bits *it) __ksym;
extern void bpf_iter_bits_destroy(struct bpf_iter_bits *it) __ksym;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32[16]);
} counts SEC(".maps");

#define DATA(ctx) ((__u8 *)(long)(ctx)->data)
#define END(ctx) ((__u8 *)(long)(ctx)->data_end)

/* -- accepted ---------------------------------------------------------------------------- */

/* the first 64 bytes of the packet summed, each access checked against data_end */
SEC("xdp") int pkt_sum(struct xdp_md *ctx)
{
	__u8 *data = DATA(ctx), *end = END(ctx);
	struct bpf_iter_num it;
	__u32 sum = 0;
	int *v;

	bpf_iter_num_new(&it, 0, 64);
	while ((v = bpf_iter_num_next(&it))) {
		int i = *v;

		if (i < 0 || i >= 64 || data + i + 1 > end)
			break;
		sum += data[i];
	}
	bpf_iter_num_destroy(&it);
	return sum & 1 ? XDP_DROP : XDP_PASS;
}

/* a byte search: the first 0x00 among the payload's first 128 bytes decides */
SEC("xdp") int pkt_find_zero(struct xdp_md *ctx)
{
	__u8 *data = DATA(ctx), *end = END(ctx);
	struct bpf_iter_num it;
	int found = -1, *v;

	bpf_iter_num_new(&it, 14, 142);
	while ((v = bpf_iter_num_next(&it))) {
		int i = *v;

		if (i < 14 || i >= 142 || data + i + 1 > end)
			break;
		if (data[i] == 0) {
			found = i;
			break;
		}
	}
	bpf_iter_num_destroy(&it);
	return found > 20 ? XDP_DROP : XDP_PASS;
}

/* two nested iterators over a 4 x 8 block of packet bytes */
SEC("xdp") int pkt_nested(struct xdp_md *ctx)
{
	__u8 *data = DATA(ctx), *end = END(ctx);
	struct bpf_iter_num rows, cols;
	__u32 x = 0;
	int *r, *c;

	bpf_iter_num_new(&rows, 0, 4);
	while ((r = bpf_iter_num_next(&rows))) {
		int row = *r;

		if (row < 0 || row >= 4)
			break;
		bpf_iter_num_new(&cols, 0, 8);
		while ((c = bpf_iter_num_next(&cols))) {
			int col = *c;
			__u8 *b;

			if (col < 0 || col >= 8)
				break;
			b = data + row * 8 + col;
			if (b + 1 > end)
				break;
			x ^= *b;
		}
		bpf_iter_num_destroy(&cols);
	}
	bpf_iter_num_destroy(&rows);
	return x == 0x42 ? XDP_DROP : XDP_PASS;
}

/* per-bit counters in a map value, the bits of the packet's first 8 bytes (bpf_iter_bits) */
SEC("xdp") int bits_count(struct xdp_md *ctx)
{
	__u8 *data = DATA(ctx), *end = END(ctx);
	struct bpf_iter_bits it;
	__u32 key = 0, *slots;
	__u64 word = 0;
	int *bit;

	if (data + 8 > end)
		return XDP_PASS;
	__builtin_memcpy(&word, data, 8);
	slots = bpf_map_lookup_elem(&counts, &key);
	if (!slots)
		return XDP_PASS;
	bpf_iter_bits_new(&it, &word, 1);
	while ((bit = bpf_iter_bits_next(&it)))
		slots[*bit & 15] += 1;
	bpf_iter_bits_destroy(&it);
	return XDP_PASS;
}

static __attribute__((noinline)) __u32 sum_first(struct bpf_iter_num *it, struct xdp_md *ctx, int n)
{
	__u8 *data = DATA(ctx), *end = END(ctx);
	__u32 sum = 0;
	int *v;

	while ((v = bpf_iter_num_next(it))) {
		int i = *v;

		if (i < 0 || i >= n || data + i + 1 > end)
			break;
		sum += data[i];
	}
	return sum;
}

/* an iterator advanced by a subprogram, called from two places with other bounds */
SEC("xdp") int subprog_iter(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	__u32 a, b;

	bpf_iter_num_new(&it, 0, 16);
	a = sum_first(&it, ctx, 16);
	bpf_iter_num_destroy(&it);
	bpf_iter_num_new(&it, 0, 32);
	b = sum_first(&it, ctx, 32);
	bpf_iter_num_destroy(&it);
	return a == b ? XDP_PASS : XDP_DROP;
}

/* a type-length-value walk over the payload: the offset is data-dependent, masked so that
 * its range stops growing and the iterations converge */
SEC("xdp") int tlv_walk(struct xdp_md *ctx)
{
	__u8 *data = DATA(ctx), *end = END(ctx);
	struct bpf_iter_num it;
	__u32 off = 14, marks = 0, key = 0, *slots;

	bpf_iter_num_new(&it, 0, 16);
	while (bpf_iter_num_next(&it)) {
		__u8 type, len, *p;

		off &= 0x3ff;
		p = data + off;
		if (p + 2 > end)
			break;
		type = p[0];
		len = p[1];
		if (type == 0)
			break;
		if (type == 7)
			marks++;
		off += len + 2;
	}
	bpf_iter_num_destroy(&it);
	slots = bpf_map_lookup_elem(&counts, &key);
	if (slots)
		slots[1] += marks;  /* (a count that decides nothing: widened, so the walk converges) */
	return XDP_PASS;
}

/* -- rejected ---------------------------------------------------------------------------- */

SEC("xdp") int leak(struct xdp_md *ctx)
{
	struct bpf_iter_num it;

	bpf_iter_num_new(&it, 0, 4);
	return bpf_iter_num_next(&it) ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int double_new(struct xdp_md *ctx)
{
	struct bpf_iter_num it;

	bpf_iter_num_new(&it, 0, 4);
	bpf_iter_num_new(&it, 0, 8);
	bpf_iter_num_destroy(&it);
	return XDP_PASS;
}

SEC("xdp") int next_after_destroy(struct xdp_md *ctx)
{
	struct bpf_iter_num it;

	bpf_iter_num_new(&it, 0, 4);
	bpf_iter_num_destroy(&it);
	return bpf_iter_num_next(&it) ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int next_uninit(struct xdp_md *ctx)
{
	struct bpf_iter_num it = {};

	return bpf_iter_num_next(&it) ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int read_iter_bytes(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	__u64 peek;

	bpf_iter_num_new(&it, 0, 4);
	peek = *(volatile __u64 *)&it;
	bpf_iter_num_destroy(&it);
	return peek ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int overwrite_iter(struct xdp_md *ctx)
{
	struct bpf_iter_num it;

	bpf_iter_num_new(&it, 0, 4);
	*(volatile __u32 *)&it = 7;
	bpf_iter_num_destroy(&it);
	return XDP_PASS;
}

SEC("xdp") int write_element(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	int *v;

	bpf_iter_num_new(&it, 0, 4);
	while ((v = bpf_iter_num_next(&it)))
		*(volatile int *)v = 0;
	bpf_iter_num_destroy(&it);
	return XDP_PASS;
}

SEC("xdp") int element_after_destroy(struct xdp_md *ctx)
{
	struct bpf_iter_num it;
	int *v, x = 0;

	bpf_iter_num_new(&it, 0, 4);
	v = bpf_iter_num_next(&it);
	bpf_iter_num_destroy(&it);
	if (v)
		x = *(volatile int *)v;
	return x ? XDP_PASS : XDP_DROP;
}

/* off by one: i == 64 reaches past the 64-byte buffer */
SEC("xdp") int index_off_by_one(struct xdp_md *ctx)
{
	__u8 buf[64] = {}, x = 0;
	struct bpf_iter_num it;
	int *v;

	bpf_iter_num_new(&it, 0, 65);
	while ((v = bpf_iter_num_next(&it))) {
		int i = *v;

		if (i < 0 || i > 64)
			break;
		x ^= ((volatile __u8 *)buf)[i];
	}
	bpf_iter_num_destroy(&it);
	return x ? XDP_PASS : XDP_DROP;
}

/* the element is trusted without a bound: the iterator's range is not known to the verifier */
SEC("xdp") int element_unbounded(struct xdp_md *ctx)
{
	__u8 *data = DATA(ctx), *end = END(ctx);
	struct bpf_iter_num it;
	__u32 sum = 0;
	int *v;

	if (data + 64 > end)
		return XDP_PASS;
	bpf_iter_num_new(&it, 0, 64);
	while ((v = bpf_iter_num_next(&it)))
		sum += data[*v];
	bpf_iter_num_destroy(&it);
	return sum & 1 ? XDP_DROP : XDP_PASS;
}

SEC("xdp") int misaligned_iter(struct xdp_md *ctx)
{
	__u64 buf[3] = {};
	struct bpf_iter_num *it = (void *)((char *)buf + 4);

	bpf_iter_num_new(it, 0, 4);
	bpf_iter_num_destroy(it);
	return buf[2] ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int iter_in_map_value(struct xdp_md *ctx)
{
	__u32 key = 0, *slots = bpf_map_lookup_elem(&counts, &key);

	if (!slots)
		return XDP_PASS;
	bpf_iter_num_new((struct bpf_iter_num *)slots, 0, 4);
	bpf_iter_num_destroy((struct bpf_iter_num *)slots);
	return XDP_PASS;
}

SEC("xdp") int bits_as_num(struct xdp_md *ctx)
{
	struct bpf_iter_bits it;
	__u64 word = 5;

	bpf_iter_bits_new(&it, &word, 1);
	bpf_iter_num_destroy((struct bpf_iter_num *)&it);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
