#include "fastcall.h"

/* the same pattern around a helper the kernel does not inline keeps its stack */
__attribute__((naked, noinline, used)) static void sub(void)
{
	asm volatile("*(u64 *)(r10 - 8) = r1;"
		     "call %[f];"
		     "r1 = *(u64 *)(r10 - 8);"
		     "exit;" :: [f] "i"(BPF_FUNC_get_numa_node_id));
}

SEC("xdp")
__attribute__((naked)) int prog(void)
{
	MAIN_CALLS(sub);
}
