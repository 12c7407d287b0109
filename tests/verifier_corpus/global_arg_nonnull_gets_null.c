#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define __arg_nonnull __attribute__((btf_decl_tag("arg:nonnull")))

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, int);
} vals SEC(".maps");

/* arg:nonnull: the caller must pass memory that cannot be NULL */
__attribute__((noinline)) int read_nonnull(int *p __arg_nonnull)
{
	return *p;
}

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	__u32 key = 0;

	return read_nonnull(bpf_map_lookup_elem(&vals, &key)) ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
