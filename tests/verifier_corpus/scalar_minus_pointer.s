r0 = 0
r0 -= r1
exit
