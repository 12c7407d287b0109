#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_cpumask;
extern struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
extern void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;

/* the cpumask kfuncs are not registered for XDP programs */
SEC("xdp")
int prog(struct xdp_md *ctx)
{
	struct bpf_cpumask *mask = bpf_cpumask_create();

	if (!mask)
		return XDP_PASS;
	bpf_cpumask_release(mask);
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";
