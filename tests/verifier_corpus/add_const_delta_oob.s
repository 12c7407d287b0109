call 7
r1 = r0
r2 = r0
r1 += 1
r2 += 4
if r0 > 6 goto out
r6 = r10
r6 += -10
r7 = r6
r6 += r1
r7 += r2
r3 = *(u8 *)(r6 + 0)
r3 = *(u8 *)(r7 + 0)
out: r0 = 0
exit
