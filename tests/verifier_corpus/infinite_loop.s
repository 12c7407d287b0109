r0 = 0
l1: if r0 == 0 goto l1
exit
