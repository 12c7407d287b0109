#include "fastcall.h"

/* another read of the pattern's slot breaks the contract: its 8 bytes count again */
__attribute__((naked, noinline, used)) static void sub(void)
{
	asm volatile("*(u64 *)(r10 - 8) = r1;"
		     "call %[f];"
		     "r1 = *(u64 *)(r10 - 8);"
		     "r2 = *(u64 *)(r10 - 8);"
		     "exit;" :: [f] "i"(BPF_FUNC_get_smp_processor_id));
}

SEC("xdp")
__attribute__((naked)) int prog(void)
{
	MAIN_CALLS(sub);
}
