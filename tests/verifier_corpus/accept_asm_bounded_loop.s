r0 = 0
l1: r0 += 1
if r0 < 100 goto l1
r0 = 2
exit
