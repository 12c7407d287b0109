r1 &= 255
r0 = 0
exit
