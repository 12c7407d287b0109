/* Shared by the bpf_loop iteration-limit cases: a callback that counts its calls. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter {
	__u64 i;
};

static int count(__u32 index, struct counter *c)
{
	c->i++;
	return 0;
}

char _license[] SEC("license") = "GPL";
