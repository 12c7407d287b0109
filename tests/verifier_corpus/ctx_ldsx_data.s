; xdp_is_valid_access: no sign-extending load of ctx->data
r2 = *(s32 *)(r1 + 0)
r0 = 2
exit
