"""Section name -> program type, as libbpf decides it.

Modelled on the `section_defs` table in libbpf (tools/lib/bpf/libbpf.c, Linux 6.x)
and its matching rules (`sec_def_matches`): a pattern ending in "+" matches the
exact name or the name followed by "/extras"; one ending in "/" matches any name
with that prefix; any other pattern matches exactly.  The first match wins, so the
more specific patterns come first.  Attach-type numbers are `enum bpf_attach_type`
from uapi/linux/bpf.h.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .model import ProgType


class AttachType(enum.IntEnum):
    """enum bpf_attach_type (uapi/linux/bpf.h)."""

    CGROUP_INET_INGRESS = 0
    CGROUP_INET_EGRESS = 1
    CGROUP_INET_SOCK_CREATE = 2
    CGROUP_SOCK_OPS = 3
    SK_SKB_STREAM_PARSER = 4
    SK_SKB_STREAM_VERDICT = 5
    CGROUP_DEVICE = 6
    SK_MSG_VERDICT = 7
    CGROUP_INET4_BIND = 8
    CGROUP_INET6_BIND = 9
    CGROUP_INET4_CONNECT = 10
    CGROUP_INET6_CONNECT = 11
    CGROUP_INET4_POST_BIND = 12
    CGROUP_INET6_POST_BIND = 13
    CGROUP_UDP4_SENDMSG = 14
    CGROUP_UDP6_SENDMSG = 15
    LIRC_MODE2 = 16
    FLOW_DISSECTOR = 17
    CGROUP_SYSCTL = 18
    CGROUP_UDP4_RECVMSG = 19
    CGROUP_UDP6_RECVMSG = 20
    CGROUP_GETSOCKOPT = 21
    CGROUP_SETSOCKOPT = 22
    TRACE_RAW_TP = 23
    TRACE_FENTRY = 24
    TRACE_FEXIT = 25
    MODIFY_RETURN = 26
    LSM_MAC = 27
    TRACE_ITER = 28
    CGROUP_INET4_GETPEERNAME = 29
    CGROUP_INET6_GETPEERNAME = 30
    CGROUP_INET4_GETSOCKNAME = 31
    CGROUP_INET6_GETSOCKNAME = 32
    XDP_DEVMAP = 33
    CGROUP_INET_SOCK_RELEASE = 34
    XDP_CPUMAP = 35
    SK_LOOKUP = 36
    XDP = 37
    SK_SKB_VERDICT = 38
    SK_REUSEPORT_SELECT = 39
    SK_REUSEPORT_SELECT_OR_MIGRATE = 40
    PERF_EVENT = 41
    TRACE_KPROBE_MULTI = 42
    LSM_CGROUP = 43
    STRUCT_OPS = 44
    NETFILTER = 45
    TCX_INGRESS = 46
    TCX_EGRESS = 47
    TRACE_UPROBE_MULTI = 48
    CGROUP_UNIX_CONNECT = 49
    CGROUP_UNIX_SENDMSG = 50
    CGROUP_UNIX_RECVMSG = 51
    CGROUP_UNIX_GETPEERNAME = 52
    CGROUP_UNIX_GETSOCKNAME = 53
    NETKIT_PRIMARY = 54
    NETKIT_PEER = 55
    TRACE_KPROBE_SESSION = 56


@dataclass(frozen=True)
class SectionDef:
    pattern: str
    prog_type: ProgType
    attach_type: int = 0
    frags: bool = False  # BPF_F_XDP_HAS_FRAGS
    sleepable: bool = False

    @property
    def type_name(self) -> str:
        """Short name: the pattern without "+", "/extras", ".frags" or ".s" ("xdp", "tc", "kprobe")."""
        stem = self.pattern.rstrip("+/").split("/")[0]
        return stem.removesuffix(".s").removesuffix(".frags")

    def matches(self, name: str) -> bool:
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


def section_def(name: str) -> SectionDef:
    """The definition libbpf would pick for a section name (UNKNOWN if none)."""
    for definition in SECTION_DEFS:
        if definition.matches(name):
            return definition
    return UNKNOWN
