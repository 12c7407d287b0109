/* Two lookups of one key; the second result is dereferenced only where it equals
 * the first, already NULL-checked, pointer (the kernel's jeq/jne not-null inference). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} hmap SEC(".maps");

SEC("xdp")
__attribute__((naked)) void prog(void)
{
	asm volatile ("					\
	r1 = 0;						\
	*(u32 *)(r10 - 8) = r1;				\
	r9 = r10;					\
	r9 += -8;					\
	r1 = %[hmap] ll;				\
	r2 = r9;					\
	call %[bpf_map_lookup_elem];			\
	r6 = r0;					\
	r1 = %[hmap] ll;				\
	r2 = r9;					\
	call %[bpf_map_lookup_elem];			\
	r7 = r0;					\
	if r6 == 0 goto l0_%=;				\
	if r6 != r7 goto l0_%=;				\
	r0 = *(u32 *)(r7 + 0);				\
l0_%=:	r0 = 2;						\
	exit;						\
"	:
	: [hmap]"i"(&hmap), [bpf_map_lookup_elem]"i"(bpf_map_lookup_elem)
	: "r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9");
}

char _license[] SEC("license") = "GPL";
