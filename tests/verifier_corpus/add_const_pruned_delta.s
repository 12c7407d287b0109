call 7
r6 = r0
call 7
r7 = r0
call 7
r1 = r0
if r6 > r7 goto big
r1 += 1
r2 = 1
r3 = 2
r4 = 3
r5 = 4
r2 = 5
r3 = 6
r4 = 7
goto join
big: r1 += 100
goto +0
join: if r0 > 8 goto out
r8 = r10
r8 += -16
r8 += r1
r0 = *(u8 *)(r8 + 0)
out: r0 = 0
exit
