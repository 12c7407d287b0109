// Fixture for the ELF loader tests: several programs and sections, BPF-to-BPF
// calls (nested and shared callees), a bpf_loop callback, BTF maps of several
// types (incl. array-of-maps and a prog_array with initialisers), global data.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, 24);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__type(key, struct { __u32 prefixlen; __u8 addr[4]; });
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} prefixes SEC(".maps");

struct inner_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} inner SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner_map);
} outer SEC(".maps") = {
	.values = { [1] = &inner },
};

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u32);
} ports SEC(".maps");

int tail_target(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} jumps SEC(".maps") = {
	.values = { [2] = (void *)&tail_target },
};

volatile __u32 hits = 7;                     /* .data */
const volatile __u32 limit = 1500;           /* .rodata */
const char banner[6] = "xdp!\n";             /* .rodata */
__u64 dropped;                               /* .bss */
__u32 table[4] = { 1, 2, 3, 4 };             /* .data */

static __attribute__((noinline)) int leaf(int x)
{
	return x * 3 + 1;                        /* LINE:leaf */
}

static __attribute__((noinline)) int middle(int x)
{
	return leaf(x) + leaf(x + 1);            /* LINE:middle */
}

static __attribute__((noinline)) int other(int x)
{
	return leaf(x) ^ 5;
}

static int loop_cb(__u32 index, void *data)
{
	__u64 *sum = data;
	*sum += index;                           /* LINE:loop_cb */
	return 0;
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	__u32 key = ctx->ingress_ifindex;
	__u64 *val = bpf_map_lookup_elem(&counters, &key);   /* LINE:lookup */
	if (val)
		__sync_fetch_and_add(val, 1);
	hits++;
	table[2] = middle(key);
	if (key > limit)
		dropped++;
	return XDP_PASS;
}

SEC("xdp")
int xdp_second(struct xdp_md *ctx)
{
	__u64 sum = 0;
	bpf_loop(4, loop_cb, &sum, 0);          /* LINE:bpf_loop */
	return other(sum) + middle((int)sum) > 0 ? XDP_PASS : XDP_DROP;
}

SEC("xdp.frags")
int xdp_frag(struct xdp_md *ctx)
{
	__u32 key = 0;
	void *m = bpf_map_lookup_elem(&outer, &key);
	if (m && bpf_map_lookup_elem(m, &key))
		return XDP_DROP;
	bpf_tail_call(ctx, &jumps, 2);
	return bpf_redirect_map(&ports, 0, XDP_PASS);
}

SEC("xdp/devmap")
int tail_target(struct xdp_md *ctx)
{
	__u32 key = 1;
	__u8 *stat = bpf_map_lookup_elem(&stats, &key);
	if (!stat)
		return XDP_ABORTED;
	return banner[0] == 'x' ? XDP_TX : XDP_PASS;
}

SEC("tc")
int tc_prog(struct __sk_buff *skb)
{
	struct { __u32 prefixlen; __u8 addr[4]; } k = { 32, { 10, 0, 0, 1 } };
	return bpf_map_lookup_elem(&prefixes, &k) ? 1 : 0;
}

SEC("kprobe/do_sys_open")
int probe(void *ctx)
{
	return leaf(3);
}

SEC("weird_section_name")
int unknown_prog(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
