#include "constkey.h"

/* a constant key spilled with exactly the key's 4 bytes at an 8-byte aligned slot, in range: the element exists */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	UNCHECKED_LOOKUP(arr, "r1 = 3; *(u32 *)(r10 - 8) = r1;");
}
