r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = *(u32 *)(r1 + 16)
if w4 > 7 goto +5
r5 = r2
r5 += 8
if r5 > r3 goto +2
r2 += r4
r0 = *(u8 *)(r2 + 0)
r0 = 2
exit
