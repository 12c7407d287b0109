goto +5
r0 = 0
exit
