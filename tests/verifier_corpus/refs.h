/* Shared by the reference-tracking cases: a ring buffer, a jump table, a TCP socket lookup. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} jt SEC(".maps");

static __always_inline struct bpf_sock *lookup(struct xdp_md *ctx)
{
	struct bpf_sock_tuple t = {};

	t.ipv4.dport = bpf_htons(80);
	return bpf_sk_lookup_tcp(ctx, &t, sizeof(t.ipv4), -1, 0);
}

char _license[] SEC("license") = "GPL";
