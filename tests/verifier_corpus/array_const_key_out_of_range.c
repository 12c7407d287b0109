#include "constkey.h"

/* a constant key past max_entries: the lookup may fail */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	UNCHECKED_LOOKUP(arr, "r1 = 4; *(u32 *)(r10 - 8) = r1;");
}
