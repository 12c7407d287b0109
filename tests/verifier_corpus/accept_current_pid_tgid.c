#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	return bpf_get_current_pid_tgid() & 3;
}

char _license[] SEC("license") = "GPL";
