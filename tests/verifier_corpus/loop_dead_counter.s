r0 = 0
r1 = 0
l1: r1 += 1
if r0 == 0 goto l1
exit
