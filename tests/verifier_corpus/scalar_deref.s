r0 = 0
r0 = *(u32 *)(r0 + 0)
exit
