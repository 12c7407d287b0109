r6 = r1
call 7
r0 &= 8
r1 = 0xffffffff
r1 <<= 32
r1 += r0
r2 = r1
*(u32 *)(r10 - 8) = r1
r2 = *(u32 *)(r10 - 8)
r3 = 0
if r2 != r3 goto l0
l0: r1 >>= 32
r6 += r1
r0 = *(u32 *)(r6 + 0)
exit
