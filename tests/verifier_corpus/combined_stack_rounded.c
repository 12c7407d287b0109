#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

/* frames are rounded up to 16 bytes: 504 + 8 counts as 512 + 16 */
__attribute__((naked, noinline, used)) static void sub(void)
{
	asm volatile("r1 = 1;"
		     "*(u64 *)(r10 - 8) = r1;"
		     "exit;");
}

SEC("xdp")
__attribute__((naked)) int prog(void)
{
	asm volatile("r1 = 42;"
		     "*(u64 *)(r10 - 504) = r1;"
		     "call sub;"
		     "r0 = 2;"
		     "exit;" ::: "r0", "r1", "r2", "r3", "r4", "r5");
}
