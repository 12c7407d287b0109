r0 = 0
l1: r0 += 1
if r0 < 10 goto l1
exit
