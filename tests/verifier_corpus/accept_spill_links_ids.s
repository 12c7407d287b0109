call 7
r0 &= 0x80
*(u8 *)(r10 - 8) = r0
r1 = *(u8 *)(r10 - 8)
r2 = 0
if r1 != r2 goto l0
if r0 == r2 goto l0
r0 = *(u64 *)(r9 + 0)
exit
l0: r0 = 0
exit
