#include "constkey.h"

/* a hash lookup may fail whatever its key */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	UNCHECKED_LOOKUP(hash, "r1 = 1; *(u32 *)(r10 - 8) = r1;");
}
