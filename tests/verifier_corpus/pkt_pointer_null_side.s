r2 = *(u32 *)(r1 + 0)
if r2 != 0 goto ok
r0 = *(u8 *)(r10 + 8)
ok: r0 = 2
exit
