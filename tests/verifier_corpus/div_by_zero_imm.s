r0 = 1
r0 /= 0
exit
