/* Shared by the constant-key lookup cases (Linux 6.14+: get_constant_map_key): arrays with four
 * u64 elements, a hash, and a lookup whose result is used without a NULL check. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} parr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

char _license[] SEC("license") = "GPL";

/* SETUP leaves the key at fp-8; the lookup's result is read unchecked */
#define UNCHECKED_LOOKUP(MAP, SETUP)                                                              \
	asm volatile(SETUP "r2 = r10; r2 += -8; r1 = %[m] ll; call %[lookup]; r0 = *(u64 *)(r0 + 0);"  \
		     "r0 = 2; exit;"                                                                      \
		     :: [m]"i"(&MAP), [lookup]"i"(bpf_map_lookup_elem), [rnd]"i"(bpf_get_prandom_u32)     \
		     : "r0", "r1", "r2", "r3", "r4", "r5", "r6", "memory")
