#include "constkey.h"

/* the key is 1 on one path and 7 on the other: the slot holding it decided whether the lookup
 * may fail, so it is precise and the second path (key 7, past max_entries) is not pruned by the
 * first at the checkpoint after the spill */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	asm volatile(
	"call %[rnd];"
	"r6 = 7;"
	"if r0 > 5 goto +1;"
	"r6 = 1;"
	"*(u32 *)(r10 - 8) = r6;"
	"r0 = 0; r3 = 0; r3 += 1; r3 += 1; r3 += 1; r3 += 1; r3 += 1; r3 += 1; r3 += 1; r3 += 1;"
	"if r3 > 100 goto +0;"
	"if r3 > 200 goto +0;"
	"r2 = r10; r2 += -8; r1 = %[m] ll; call %[lookup];"
	"r0 = *(u64 *)(r0 + 0);"
	"r0 = 2; exit;"
	:: [m]"i"(&arr), [lookup]"i"(bpf_map_lookup_elem), [rnd]"i"(bpf_get_prandom_u32)
	: "r0", "r1", "r2", "r3", "r4", "r5", "r6", "memory");
}
