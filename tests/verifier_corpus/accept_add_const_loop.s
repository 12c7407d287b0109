call 7
r0 &= 7
loop: r1 = r10
r1 += -10
r2 = r0
r1 += r2
r3 = *(u8 *)(r1 + 0)
r0 = r2
r0 += 1
if r2 < 9 goto loop
r0 = 0
exit
