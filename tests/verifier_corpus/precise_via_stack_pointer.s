r6 = *(u32 *)(r1 + 0)
r7 = *(u32 *)(r1 + 4)
r2 = r6
r2 += 8
if r2 > r7 goto out
call 7
r8 = r10
r8 += -16
r1 = 0
if r0 > 10 goto a
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
goto b
a: r1 = 100
b: *(u64 *)(r8 + 0) = r1
r5 = *(u64 *)(r8 + 0)
r6 += r5
r0 = *(u8 *)(r6 + 0)
out: r0 = 2
exit
