r2 = 0
*(u32 *)(r1 + 0) = r2
r0 = 0
exit
