#include "constkey.h"

/* four zero bytes (STACK_ZERO, also at an unaligned slot) are the key 0 */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	UNCHECKED_LOOKUP(arr, "r1 = 0; *(u32 *)(r10 - 4) = r1; *(u32 *)(r10 - 8) = r1;");
}
