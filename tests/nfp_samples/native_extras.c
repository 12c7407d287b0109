/* native_extras.c — for tests/test_nfp_native.py: the instructions the bundled examples never
 * make the kernel JIT emit, in one offloadable program: a u32 multiply (mul_step), the random
 * number CSR (bpf_get_prandom_u32 -> local_csr_rd), an atomic add too wide for add_imm (the
 * deferred memory command whose addend the defer slots fill) and a perf event with packet
 * bytes (the firmware's perf routine). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 64);
} events SEC(".maps");

struct record {
	__u32 product;
	__u32 random;
};

SEC("xdp")
int native_extras(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	unsigned char *bytes = data;
	struct record rec;
	__u32 key;
	__u64 *total;

	if (data + 16 > end)
		return XDP_ABORTED;
	rec.product = (__u32)bytes[12] * (__u32)(bytes[13] | bytes[14] << 8);
	rec.random = bpf_get_prandom_u32();
	key = rec.random & 3;
	total = bpf_map_lookup_elem(&totals, &key);
	if (total)
		__sync_fetch_and_add(total, rec.product + 0x10000);
#ifndef NO_PERF_EVENT
	if (bytes[15] & 1)
		bpf_perf_event_output(ctx, &events, ((__u64)12 << 32) | BPF_F_CURRENT_CPU, &rec, sizeof(rec));
#endif
	return rec.random & 1 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "Dual BSD/GPL";
