; a division by the immediate 0 on a path the walk proves dead is never refused: the kernel
; checks it where check_alu_op reaches it, not when it reads the program
r0 = 2
if r0 == 2 goto +1
r0 /= 0
exit
