// Fixture: legacy `struct bpf_map_def SEC("maps")` maps, static global data
// (section-symbol relocations), a kernel-version section, a kfunc extern.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_hash = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 64,
	.map_flags = BPF_F_NO_PREALLOC,
};

struct bpf_map_def SEC("maps") legacy_array = { BPF_MAP_TYPE_ARRAY, 4, 16, 2, 0 };

static volatile __u32 static_counter = 11;        /* .data via the section symbol */
static volatile __u32 second_static = 0x22334455; /* .data at offset 4 */
static const char fmt[] = "pkt %d\n";

extern void bpf_rcu_read_lock(void) __ksym;

SEC("xdp")
int legacy_prog(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&legacy_hash, &k);
	static_counter += second_static;
	bpf_trace_printk(fmt, sizeof(fmt), static_counter);
	return v ? XDP_PASS : XDP_DROP;
}

SEC("tc")
int uses_kfunc(struct __sk_buff *skb)
{
	bpf_rcu_read_lock();
	return bpf_map_lookup_elem(&legacy_array, &skb->mark) ? 1 : 0;
}

char _license[] SEC("license") = "GPL";
__u32 _version SEC("version") = 0x050a00;
