#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int bpf_copy_from_user_str(void *dst, __u32 dst__sz, const void *unsafe_ptr__ign, __u64 flags) __ksym;

/* a sleepable kfunc of a set XDP may use: an XDP program never sleeps */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	char buf[8];

	return bpf_copy_from_user_str(buf, sizeof(buf), 0, 0) > 0 ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
