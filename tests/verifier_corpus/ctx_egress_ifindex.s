r0 = *(u32 *)(r1 + 20)
exit
