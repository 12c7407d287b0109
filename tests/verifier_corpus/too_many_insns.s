r1 = 0
l1: r1 += 1
if r1 < 3000000 goto l1
r0 = 0
exit
