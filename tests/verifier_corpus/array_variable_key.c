#include "constkey.h"

/* a key that is not a constant */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	UNCHECKED_LOOKUP(arr, "call %[rnd]; r0 &= 3; *(u32 *)(r10 - 8) = r0;");
}
