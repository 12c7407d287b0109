r0 = 0
*(u64 *)(r10 + 0) = r0
exit
