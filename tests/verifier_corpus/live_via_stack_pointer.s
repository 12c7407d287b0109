r6 = *(u32 *)(r1 + 0)
r7 = *(u32 *)(r1 + 4)
r2 = r6
r2 += 8
if r2 > r7 goto out
call 7
r8 = r10
r8 += -16
if r0 > 10 goto a
*(u64 *)(r10 - 16) = r6
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
goto b
a: r1 = 1
*(u64 *)(r10 - 16) = r1
b: r5 = *(u64 *)(r8 + 0)
r0 = *(u8 *)(r5 + 0)
out: r0 = 2
exit
