call 7
r0 = r1
exit
