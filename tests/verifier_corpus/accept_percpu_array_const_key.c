#include "constkey.h"

/* the same for a per-CPU array */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	UNCHECKED_LOOKUP(parr, "r1 = 1; *(u32 *)(r10 - 8) = r1;");
}
