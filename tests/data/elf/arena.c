/* An arena map (map_extra given with __ulong, as libbpf 1.4+ spells it) and __arena globals
 * in .addr_space.1, the arena's initial data: tests/test_elf_loader.py. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef __ulong
#define __ulong(name, val) enum { ___bpf_concat(__unique_value, __COUNTER__) = val } name
#endif
#define __arena __attribute__((address_space(1)))

struct {
	__uint(type, 33); /* BPF_MAP_TYPE_ARENA (Linux 6.9; older uapi headers lack it) */
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4);
	__ulong(map_extra, (1ull << 44) | 0x10000000ull);
} arena SEC(".maps");

int __arena counter = 7;
int __arena table[3] = {1, 2, 3};

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return (int)(long)&table[1] + (int)(long)&counter;
}

char _license[] SEC("license") = "GPL";
