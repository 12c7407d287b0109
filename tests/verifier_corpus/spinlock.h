/* Shared by the spin lock cases: maps whose values hold a bpf_spin_lock (at offset 4), one
 * without, one with a timer, a lock in global data, and helpers that take and use a lock. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct val {
	int count;
	struct bpf_spin_lock lock;
	int data;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct val);
} locks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct val);
} hlocks SEC(".maps");

struct plain {
	int a;
	int b;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct plain);
} plains SEC(".maps");

struct tval {
	int n;
	struct bpf_timer timer;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct tval);
} timers SEC(".maps");

struct bpf_spin_lock glock SEC(".data.glock");
int gcount SEC(".data.glock");

char _license[] SEC("license") = "GPL";

/* a lookup the kernel cannot prove non-NULL (a hash map), so every case checks */
static __always_inline struct val *get(void *map, __u32 key)
{
	return bpf_map_lookup_elem(map, &key);
}

static __attribute__((noinline)) int take(struct val *v)
{
	bpf_spin_lock(&v->lock);
	return 0;
}

__attribute__((noinline)) int global_bump(int x)
{
	return x + 1;
}
