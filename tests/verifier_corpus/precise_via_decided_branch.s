call 7
r8 = 100
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
if r0 == 0 goto a
r8 = 4
a: r6 = 4
if r8 > r6 goto bad
r0 = 2
exit
bad: r0 = *(u8 *)(r10 + 8)
exit
