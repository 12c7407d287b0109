call 7
r8 = 100
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
r3 = 0
if r0 == 0 goto a
r8 = 4
a: call 7
if r8 > r0 goto b
r0 = 1
b: r0 = 2
exit
