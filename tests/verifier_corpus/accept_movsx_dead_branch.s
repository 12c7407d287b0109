; w7 = (s8)w3 of a value in [0x80, 0x8f] is in [-128, -113] (coerce_subreg_to_size_sx): the
; branch on w7 s>= -5 is never taken, so the write to r10 behind it is never reached
call 7
r3 = r0
r3 &= 0xf
r3 |= 0x80
w7 = (s8)w3
if w7 s>= -5 goto +2
w0 = 2
exit
r10 = 1
exit
