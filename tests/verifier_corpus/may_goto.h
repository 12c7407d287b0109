/* cond_break as tools/testing/selftests/bpf/bpf_experimental.h defines it (little endian):
 * a may_goto whose jump leaves the loop, written as bytes for compilers that lack it. */
#define cond_break                                                                    \
	({                                                                            \
		__label__ l_break, l_continue;                                        \
		asm volatile goto("1:.byte 0xe5; .byte 0;"                            \
				  ".long ((%l[l_break] - 1b - 8) / 8) & 0xffff;"      \
				  ".short 0" :::: l_break);                           \
		goto l_continue;                                                      \
	l_break:                                                                      \
		break;                                                                \
	l_continue:;                                                                  \
	})
