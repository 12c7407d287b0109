"""`RuntimeConfig`: everything that makes a userspace run deterministic and kernel-like.

Engines take one config; two engines built from equal configs (and equal map
state) must produce byte-identical results, so every source of nondeterminism a
helper could observe (clock, random numbers, CPU id, routes) is pinned here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..ebpf.semantics import MayGoto

XDP_PACKET_HEADROOM = 256  # include/uapi/linux/bpf.h
ETH_HLEN = 14  # include/uapi/linux/if_ether.h
# SKB_DATA_ALIGN(sizeof(struct skb_shared_info)) on x86_64: the tailroom the kernel
# keeps free at the end of an XDP frame (xdp_data_hard_end() in include/net/xdp.h).
SKB_SHARED_INFO_TAILROOM = 320
# sizeof(struct xdp_frame) on x86_64 (include/net/xdp.h): adjust_head/adjust_meta may
# not move data/meta below data_hard_start + this (the frame metadata lives there).
XDP_FRAME_SIZE = 40
MAX_TAIL_CALL_CNT = 33  # include/linux/bpf.h
MAX_CALL_FRAMES = 8  # include/linux/bpf_verifier.h
MAX_BPF_STACK = 512  # include/linux/filter.h
MAX_MTU = (1 << 31) - 1 - ETH_HLEN  # bpf_check_mtu adds the header to the MTU in an int


@dataclass(frozen=True)
class FibRoute:
    """One user-provided route answering bpf_fib_lookup (prefix match on the destination).

    `prefix` is "10.0.0.0/8" or "2001:db8::/32"; the answer fills smac/dmac and ifindex.
    """

    prefix: str
    ifindex: int
    smac: str = "00:00:00:00:00:00"
    dmac: str = "00:00:00:00:00:00"
    mtu: int = 1500


@dataclass
class RuntimeConfig:
    ncpus: int = 1  # number of per-CPU value copies in percpu maps
    cpu: int = 0  # bpf_get_smp_processor_id(); which per-CPU copy the program sees
    numa_node: int = 0  # bpf_get_numa_node_id()
    frame_size: int = 4096  # xdp_buff.frame_sz (PAGE_SIZE in BPF_PROG_TEST_RUN)
    headroom: int = XDP_PACKET_HEADROOM
    clock_start_ns: int = 1_000_000_000  # first bpf_ktime_get_ns() value
    clock_step_ns: int = 1_000  # each clock read advances the clock by this much
    jiffies: int = 4_294_667_296  # bpf_jiffies64() (the kernel's INITIAL_JIFFIES + 0)
    prandom_seed: int = 0x5EED
    fib_table: list[FibRoute] = field(default_factory=list)
    # bpf_check_mtu's network devices: the receiving one (ifindex 0, or the context's
    # ingress_ifindex) has `mtu` unless `device_mtus` lists it; `device_mtus` gives the MTU of
    # the others by ifindex, and an ifindex in neither is no device (-ENODEV)
    mtu: int = 1500
    device_mtus: dict[int, int] = field(default_factory=dict)
    max_insns: int = 1_000_000  # runaway guard per run: beyond it the run faults
    # may_goto's loop budget per program frame (ebpf.semantics.MayGoto): BPF_MAX_LOOPS, as the
    # kernel counts it where the JIT has no timed may_goto (x86-64's stops after 250 ms instead)
    may_goto_budget: int = MayGoto.budget
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from ..errors import XdpError

        if self.may_goto_budget < 0:
            raise XdpError(f"may_goto_budget must not be negative, got {self.may_goto_budget}")
        if not all(0 < mtu <= MAX_MTU for mtu in (self.mtu, *self.device_mtus.values())):
            raise XdpError(f"a device MTU must be from 1 to {MAX_MTU}")
        if self.ncpus < 1:
            raise XdpError(f"ncpus must be at least 1, got {self.ncpus}")
        if not 0 <= self.cpu < self.ncpus:
            raise XdpError(f"cpu {self.cpu} is outside 0..{self.ncpus - 1}")
        if self.headroom < XDP_FRAME_SIZE:
            raise XdpError(f"headroom {self.headroom} is below the xdp_frame size {XDP_FRAME_SIZE}")
        if self.frame_size < self.headroom + ETH_HLEN + SKB_SHARED_INFO_TAILROOM:
            raise XdpError(f"frame_size {self.frame_size} leaves no room for a packet")

    def runaway_message(self, may_goto: bool) -> str:
        """The fault of a run past max_insns; for a program with may_goto, why that may be
        its loop budget (which the kernel lets run) rather than a runaway."""
        text = f"executed more than {self.max_insns} instructions (max_insns): runaway loop?"
        if may_goto:
            text += (f" (its may_goto loops may each run {self.may_goto_budget} times per frame; "
                     "the x86-64 kernel stops them after 250 ms instead)")
        return text

    @property
    def max_packet(self) -> int:
        """Largest linear packet a frame holds (the kernel's max_data_sz in test_run)."""
        return self.frame_size - self.headroom - SKB_SHARED_INFO_TAILROOM
