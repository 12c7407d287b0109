#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

/* addr_space_cast (a mov with off 1: r1 = addr_space_cast(r1, 0, 1)) needs an arena map */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	asm volatile("r1 = 0;"
		     ".byte 0xbf; .byte 0x11; .short 1; .long 1;"
		     "r0 = 2;"
		     "exit;");
}
