call 7
r0 <<= 32
*(u64 *)(r10 - 8) = r0
r0 = *(u32 *)(r10 - 8)
if r0 == 0 goto l0
r0 = *(u64 *)(r9 + 0)
l0: exit
