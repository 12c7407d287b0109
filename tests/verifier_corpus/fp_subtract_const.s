; subtraction from the frame pointer is refused even by a known constant
r1 = r10
r2 = 8
r1 -= r2
r0 = 2
exit
