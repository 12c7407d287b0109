; a sign-extending load of a scalar ctx field is fine
r2 = *(s32 *)(r1 + 16)
r0 = 2
exit
