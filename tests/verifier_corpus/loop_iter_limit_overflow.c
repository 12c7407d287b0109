#include "loop_iter_limit.h"

char table[2];

/* ... and a 2-byte table is one too small */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct counter c = { 0 };

	bpf_loop(2, count, &c, 0);
	return table[c.i];
}
