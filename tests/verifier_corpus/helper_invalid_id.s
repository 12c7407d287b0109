call 9999
r0 = 0
exit
