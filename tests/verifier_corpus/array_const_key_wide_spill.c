#include "constkey.h"

/* a constant spilled with 8 bytes for a 4-byte key is not taken as the key */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	UNCHECKED_LOOKUP(arr, "r1 = 1; *(u64 *)(r10 - 8) = r1;");
}
