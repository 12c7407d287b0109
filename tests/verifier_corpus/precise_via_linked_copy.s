call 7
r6 = r0
r6 &= 15
r7 = r6
call 7
r8 = 100
if r0 == 0 goto a
r8 = 4
a: if r6 > r8 goto out
r2 = r10
r2 += -8
r2 += r7
r0 = *(u8 *)(r2 + 0)
out: r0 = 2
exit
