; u32 range [0, 0x80000003] and s32 range [-3, 5] meet only in [0, 5] (the s32 range crosses
; the sign boundary, the u32 one meets only its non-negative part): w0 <= 5 always holds
call 7
if w0 > 0x80000003 goto +4
if w0 s< -3 goto +3
if w0 s> 5 goto +2
if w0 <= 5 goto +1
r10 = 0
w0 = 2
exit
