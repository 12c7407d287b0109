#include "map_ptr.h"

/* the map's struct may be read, never written */
SEC("xdp")
__attribute__((naked)) int prog(void)
{
	asm volatile("r1 = %[m] ll;"
		     "r2 = 0;"
		     "*(u64 *)(r1 + 8) = r2;"
		     "r0 = 2;"
		     "exit;" :: [m] "i"(&hmap));
}
