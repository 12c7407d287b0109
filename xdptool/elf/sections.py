"""Section name -> program type, as libbpf decides it (and iproute2 for the rest).

Modelled on the `section_defs` table in libbpf (tools/lib/bpf/libbpf.c, Linux 6.x)
and its matching rules (`sec_def_matches`): a pattern ending in "+" matches the
exact name or the name followed by "/extras"; one ending in "/" matches any name
with that prefix; any other pattern matches exactly.  The first match wins, so the
more specific patterns come first.  Attach-type numbers are `enum bpf_attach_type`
from uapi/linux/bpf.h.

Sections libbpf 1.x does not know are typed as the older loaders typed them
(`program_def`): libbpf before 1.0 matched "xdp" as a prefix (SEC_SLOPPY_PFX:
`xdp1`, `xdp_prog`, `xdp_prog/0`) and knew "xdp_devmap/" and "xdp_cpumap/";
iproute2 (`ip link set dev D xdp obj O sec S`) loads any section with the type
its command names and no expected_attach_type (`from-netdev`, `prog`), which for
an XDP tool is XDP.
"""


from typing import NamedTuple

from ..platform.programs import AttachType, ProgType

__all__ = ["AttachType", "SectionDef", "SECTION_DEFS", "LEGACY_XDP_DEFS", "UNKNOWN", "section_def", "program_def",
           "XDP_TYPE_NAMES", "xdp_type", "retyped"]


class SectionDef(NamedTuple):
    """A section-name rule: the program type and attach type a matching section gets.  A
    NamedTuple, not a frozen dataclass: defined, and its ~100 rules made, in a fraction of
    the time at every start."""

    pattern: str
    prog_type: ProgType
    attach_type: int = 0
    frags: bool = False  # BPF_F_XDP_HAS_FRAGS
    sleepable: bool = False
    convention: str = "libbpf"  # whose rule typed the section: libbpf, libbpf<1.0 or iproute2

    @property
    def type_name(self) -> str:
        """Short name: the pattern without "+", "/extras", ".frags" or ".s" ("xdp", "tc", "kprobe")."""
        stem = self.pattern.rstrip("+/").split("/")[0]
        return stem.removesuffix(".s").removesuffix(".frags")

    def matches(self, name: str) -> bool:
        if self.convention == "iproute2":
            return True
        if self.convention == "libbpf<1.0" and not self.pattern.endswith("/"):
            return name.startswith(self.pattern)  # SEC_SLOPPY_PFX
        if self.pattern.endswith("/"):
            return name.startswith(self.pattern)
        if self.pattern.endswith("+"):
            stem = self.pattern[:-1]
            return name == stem or name.startswith(stem + "/")
        return name == self.pattern


P, A = ProgType, AttachType

SECTION_DEFS: tuple[SectionDef, ...] = (
    SectionDef("socket", P.SOCKET_FILTER),
    SectionDef("sk_reuseport/migrate", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT_OR_MIGRATE),
    SectionDef("sk_reuseport", P.SK_REUSEPORT, A.SK_REUSEPORT_SELECT),
    SectionDef("kprobe+", P.KPROBE),
    SectionDef("uprobe+", P.KPROBE),
    SectionDef("uprobe.s+", P.KPROBE, sleepable=True),
    SectionDef("kretprobe+", P.KPROBE),
    SectionDef("uretprobe+", P.KPROBE),
    SectionDef("uretprobe.s+", P.KPROBE, sleepable=True),
    SectionDef("kprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    SectionDef("kretprobe.multi+", P.KPROBE, A.TRACE_KPROBE_MULTI),
    SectionDef("kprobe.session+", P.KPROBE, A.TRACE_KPROBE_SESSION),
    SectionDef("uprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    SectionDef("uretprobe.multi+", P.KPROBE, A.TRACE_UPROBE_MULTI),
    SectionDef("uprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, sleepable=True),
    SectionDef("uretprobe.multi.s+", P.KPROBE, A.TRACE_UPROBE_MULTI, sleepable=True),
    SectionDef("ksyscall+", P.KPROBE),
    SectionDef("kretsyscall+", P.KPROBE),
    SectionDef("usdt+", P.KPROBE),
    SectionDef("usdt.s+", P.KPROBE, sleepable=True),
    SectionDef("tc/ingress", P.SCHED_CLS, A.TCX_INGRESS),  # alias for tcx
    SectionDef("tc/egress", P.SCHED_CLS, A.TCX_EGRESS),
    SectionDef("tcx/ingress", P.SCHED_CLS, A.TCX_INGRESS),
    SectionDef("tcx/egress", P.SCHED_CLS, A.TCX_EGRESS),
    SectionDef("tc", P.SCHED_CLS),
    SectionDef("classifier", P.SCHED_CLS),
    SectionDef("action", P.SCHED_ACT),
    SectionDef("netkit/primary", P.SCHED_CLS, A.NETKIT_PRIMARY),
    SectionDef("netkit/peer", P.SCHED_CLS, A.NETKIT_PEER),
    SectionDef("tracepoint+", P.TRACEPOINT),
    SectionDef("tp+", P.TRACEPOINT),
    SectionDef("raw_tracepoint+", P.RAW_TRACEPOINT),
    SectionDef("raw_tp+", P.RAW_TRACEPOINT),
    SectionDef("raw_tracepoint.w+", P.RAW_TRACEPOINT_WRITABLE),
    SectionDef("raw_tp.w+", P.RAW_TRACEPOINT_WRITABLE),
    SectionDef("tp_btf+", P.TRACING, A.TRACE_RAW_TP),
    SectionDef("fentry+", P.TRACING, A.TRACE_FENTRY),
    SectionDef("fmod_ret+", P.TRACING, A.MODIFY_RETURN),
    SectionDef("fexit+", P.TRACING, A.TRACE_FEXIT),
    SectionDef("fentry.s+", P.TRACING, A.TRACE_FENTRY, sleepable=True),
    SectionDef("fmod_ret.s+", P.TRACING, A.MODIFY_RETURN, sleepable=True),
    SectionDef("fexit.s+", P.TRACING, A.TRACE_FEXIT, sleepable=True),
    SectionDef("freplace+", P.EXT),
    SectionDef("lsm+", P.LSM, A.LSM_MAC),
    SectionDef("lsm.s+", P.LSM, A.LSM_MAC, sleepable=True),
    SectionDef("lsm_cgroup+", P.LSM, A.LSM_CGROUP),
    SectionDef("iter+", P.TRACING, A.TRACE_ITER),
    SectionDef("iter.s+", P.TRACING, A.TRACE_ITER, sleepable=True),
    SectionDef("syscall", P.SYSCALL, sleepable=True),
    SectionDef("xdp.frags/devmap", P.XDP, A.XDP_DEVMAP, frags=True),
    SectionDef("xdp/devmap", P.XDP, A.XDP_DEVMAP),
    SectionDef("xdp.frags/cpumap", P.XDP, A.XDP_CPUMAP, frags=True),
    SectionDef("xdp/cpumap", P.XDP, A.XDP_CPUMAP),
    SectionDef("xdp.frags", P.XDP, A.XDP, frags=True),
    SectionDef("xdp", P.XDP, A.XDP),
    SectionDef("perf_event", P.PERF_EVENT),
    SectionDef("lwt_in", P.LWT_IN),
    SectionDef("lwt_out", P.LWT_OUT),
    SectionDef("lwt_xmit", P.LWT_XMIT),
    SectionDef("lwt_seg6local", P.LWT_SEG6LOCAL),
    SectionDef("sockops", P.SOCK_OPS, A.CGROUP_SOCK_OPS),
    SectionDef("sk_skb/stream_parser", P.SK_SKB, A.SK_SKB_STREAM_PARSER),
    SectionDef("sk_skb/stream_verdict", P.SK_SKB, A.SK_SKB_STREAM_VERDICT),
    SectionDef("sk_skb/verdict", P.SK_SKB, A.SK_SKB_VERDICT),
    SectionDef("sk_skb", P.SK_SKB),
    SectionDef("sk_msg", P.SK_MSG, A.SK_MSG_VERDICT),
    SectionDef("lirc_mode2", P.LIRC_MODE2, A.LIRC_MODE2),
    SectionDef("flow_dissector", P.FLOW_DISSECTOR, A.FLOW_DISSECTOR),
    SectionDef("cgroup_skb/ingress", P.CGROUP_SKB, A.CGROUP_INET_INGRESS),
    SectionDef("cgroup_skb/egress", P.CGROUP_SKB, A.CGROUP_INET_EGRESS),
    SectionDef("cgroup/skb", P.CGROUP_SKB),
    SectionDef("cgroup/sock_create", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE),
    SectionDef("cgroup/sock_release", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_RELEASE),
    SectionDef("cgroup/sock", P.CGROUP_SOCK, A.CGROUP_INET_SOCK_CREATE),
    SectionDef("cgroup/post_bind4", P.CGROUP_SOCK, A.CGROUP_INET4_POST_BIND),
    SectionDef("cgroup/post_bind6", P.CGROUP_SOCK, A.CGROUP_INET6_POST_BIND),
    SectionDef("cgroup/bind4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_BIND),
    SectionDef("cgroup/bind6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_BIND),
    SectionDef("cgroup/connect4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_CONNECT),
    SectionDef("cgroup/connect6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_CONNECT),
    SectionDef("cgroup/connect_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_CONNECT),
    SectionDef("cgroup/sendmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_SENDMSG),
    SectionDef("cgroup/sendmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_SENDMSG),
    SectionDef("cgroup/sendmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_SENDMSG),
    SectionDef("cgroup/recvmsg4", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP4_RECVMSG),
    SectionDef("cgroup/recvmsg6", P.CGROUP_SOCK_ADDR, A.CGROUP_UDP6_RECVMSG),
    SectionDef("cgroup/recvmsg_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_RECVMSG),
    SectionDef("cgroup/getpeername4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETPEERNAME),
    SectionDef("cgroup/getpeername6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETPEERNAME),
    SectionDef("cgroup/getpeername_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETPEERNAME),
    SectionDef("cgroup/getsockname4", P.CGROUP_SOCK_ADDR, A.CGROUP_INET4_GETSOCKNAME),
    SectionDef("cgroup/getsockname6", P.CGROUP_SOCK_ADDR, A.CGROUP_INET6_GETSOCKNAME),
    SectionDef("cgroup/getsockname_unix", P.CGROUP_SOCK_ADDR, A.CGROUP_UNIX_GETSOCKNAME),
    SectionDef("cgroup/sysctl", P.CGROUP_SYSCTL, A.CGROUP_SYSCTL),
    SectionDef("cgroup/getsockopt", P.CGROUP_SOCKOPT, A.CGROUP_GETSOCKOPT),
    SectionDef("cgroup/setsockopt", P.CGROUP_SOCKOPT, A.CGROUP_SETSOCKOPT),
    SectionDef("cgroup/dev", P.CGROUP_DEVICE, A.CGROUP_DEVICE),
    SectionDef("struct_ops+", P.STRUCT_OPS),
    SectionDef("struct_ops.s+", P.STRUCT_OPS, sleepable=True),
    SectionDef("sk_lookup", P.SK_LOOKUP, A.SK_LOOKUP),
    SectionDef("netfilter", P.NETFILTER, A.NETFILTER),
)

UNKNOWN = SectionDef("unknown", ProgType.UNSPEC)

# What older loaders made of the sections libbpf 1.x does not know (libbpf 0.x's
# section_defs: "xdp_devmap/", "xdp_cpumap/", "xdp" with SEC_SLOPPY_PFX; iproute2).
LEGACY_XDP_DEFS: tuple[SectionDef, ...] = (
    SectionDef("xdp_devmap/", P.XDP, A.XDP_DEVMAP, convention="libbpf<1.0"),
    SectionDef("xdp_cpumap/", P.XDP, A.XDP_CPUMAP, convention="libbpf<1.0"),
    SectionDef("xdp", P.XDP, A.XDP, convention="libbpf<1.0"),
    SectionDef("xdp", P.XDP, 0, convention="iproute2"),
)


def section_def(name: str) -> SectionDef:
    """The definition libbpf 1.x would pick for a section name (UNKNOWN if none)."""
    for definition in SECTION_DEFS:
        if definition.matches(name):
            return definition
    return UNKNOWN


def program_def(name: str) -> SectionDef:
    """How a program in section `name` is typed: by libbpf 1.x, else as libbpf 0.x or iproute2 did."""
    definition = section_def(name)
    if definition is not UNKNOWN:
        return definition
    return next(d for d in LEGACY_XDP_DEFS if d.matches(name))


# `verify --type`: the XDP flavours, named as bpftool's `prog load ... type` and SEC() name them.
XDP_TYPE_NAMES: tuple[str, ...] = tuple(sorted((d.pattern for d in SECTION_DEFS if d.prog_type == P.XDP),
                                               key=lambda n: (n.count("/"), n.count("."), n)))


def xdp_type(name: str) -> SectionDef:
    """The XDP section definition named `name` (one of XDP_TYPE_NAMES)."""
    return next(d for d in SECTION_DEFS if d.prog_type == P.XDP and d.pattern == name)


def retyped(program, definition: SectionDef):
    """A copy of `program` typed by `definition` instead of its section (bpftool's `prog load ... type`)."""
    return program.replace(type=definition.prog_type, type_name=definition.type_name,
                               attach_type=definition.attach_type, frags=definition.frags)
