/* One program per section convention (tests/test_verifier_types.py): libbpf 1.x's XDP
 * sections, libbpf 0.x's prefixes, iproute2's free names, and a non-XDP one. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define EGRESS(name, section)                                          \
	SEC(section) int name(struct xdp_md *ctx)                      \
	{                                                              \
		return ctx->egress_ifindex == 3 ? XDP_DROP : XDP_PASS; \
	}
#define PASS(name, section) \
	SEC(section) int name(struct xdp_md *ctx) { return ctx->ingress_ifindex ? XDP_PASS : XDP_DROP; }

PASS(plain, "xdp")
PASS(frags, "xdp.frags")
EGRESS(devmap_egress, "xdp/devmap")
EGRESS(devmap_frags_egress, "xdp.frags/devmap")
PASS(cpumap_pass, "xdp/cpumap")
EGRESS(cpumap_egress, "xdp/cpumap")
EGRESS(xdp_egress, "xdp")
PASS(legacy_xdp1, "xdp1")
PASS(legacy_xdp_prog, "xdp_prog")
PASS(legacy_tail, "xdp_prog/0")
EGRESS(legacy_devmap_egress, "xdp_devmap/egress")
PASS(iproute2_from_netdev, "from-netdev")
PASS(iproute2_prog, "prog")

SEC("tc") int classifier(struct __sk_buff *skb) { return 0; }

char _license[] SEC("license") = "GPL";
