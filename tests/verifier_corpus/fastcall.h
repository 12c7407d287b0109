/* Shared by the bpf_fastcall cases: a main program using all 512 bytes of stack calls a
 * subprogram that spills r1 around bpf_get_smp_processor_id (which the kernel inlines). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

#define MAIN_CALLS(sub)						\
	asm volatile("r1 = 42;"					\
		     "*(u64 *)(r10 - 512) = r1;"		\
		     "call " #sub ";"				\
		     "r0 = 2;"					\
		     "exit;" ::: "r0", "r1", "r2", "r3", "r4", "r5")
