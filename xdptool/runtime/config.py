"""`RuntimeConfig`: everything that makes a userspace run deterministic and kernel-like.

Engines take one config; two engines built from equal configs (and equal map
state) must produce byte-identical results, so every source of nondeterminism a
helper could observe (clock, random numbers, CPU id, routes) is pinned here.
"""


from typing import Any, NamedTuple

from ..ebpf.semantics import MayGoto
from ..errors import XdpError
from ..record import Record

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
MAX_NCPUS = 1024  # per-CPU maps hold one value per CPU; more is a typo, not a machine
MAX_NUMNODES = 1024  # include/linux/numa.h: 1 << CONFIG_NODES_SHIFT, at most 10 bits
MAX_IFINDEX = (1 << 31) - 1  # net_device.ifindex is a positive int
MAX_ROUTE_MTU = 0xFFFF  # struct bpf_fib_lookup's mtu_result is a __u16
U64_MAX = (1 << 64) - 1
S64_MAX = (1 << 63) - 1  # the engines' instruction and loop counters are signed 64-bit


class FibRoute(NamedTuple):
    """One user-provided route answering bpf_fib_lookup (prefix match on the destination).

    `prefix` is "10.0.0.0/8" or "2001:db8::/32"; the answer fills smac/dmac and ifindex.
    """

    prefix: str
    ifindex: int
    smac: str = "00:00:00:00:00:00"
    dmac: str = "00:00:00:00:00:00"
    mtu: int = 1500


class RuntimeConfig(Record):
    """The machine a run sees (CPUs, frame, clocks, routes, MTUs, budgets): every engine reads it."""

    FIELDS = ("ncpus", "cpu", "numa_node", "frame_size", "headroom", "clock_start_ns", "clock_step_ns", "jiffies",
              "prandom_seed", "fib_table", "mtu", "device_mtus", "max_insns", "may_goto_budget", "extra", "given")
    HIDDEN = UNCOMPARED = ("given",)

    def __init__(self, ncpus: int = 1, cpu: int = 0, numa_node: int = 0, frame_size: int = 4096,
                 headroom: int = XDP_PACKET_HEADROOM, clock_start_ns: int = 1_000_000_000, clock_step_ns: int = 1_000,
                 jiffies: int = 4_294_667_296, prandom_seed: int = 0x5EED, fib_table: list[FibRoute] | None = None,
                 mtu: int = 1500, device_mtus: dict[int, int] | None = None, max_insns: int = 1_000_000,
                 may_goto_budget: int = MayGoto.budget, extra: dict[str, Any] | None = None,
                 given: frozenset[str] = frozenset()):
        self.ncpus = ncpus  # number of per-CPU value copies in percpu maps
        self.cpu = cpu  # bpf_get_smp_processor_id(); which per-CPU copy the program sees
        self.numa_node = numa_node  # bpf_get_numa_node_id()
        self.frame_size = frame_size  # xdp_buff.frame_sz (PAGE_SIZE in BPF_PROG_TEST_RUN)
        self.headroom = headroom
        self.clock_start_ns = clock_start_ns  # first bpf_ktime_get_ns() value
        self.clock_step_ns = clock_step_ns  # each clock read advances the clock by this much
        self.jiffies = jiffies  # bpf_jiffies64() (the kernel's INITIAL_JIFFIES + 0)
        self.prandom_seed = prandom_seed
        self.fib_table: list[FibRoute] = [] if fib_table is None else fib_table
        # bpf_check_mtu's network devices: the receiving one (ifindex 0, or the context's
        # ingress_ifindex) has `mtu` unless `device_mtus` lists it; `device_mtus` gives the MTU of
        # the others by ifindex, and an ifindex in neither is no device (-ENODEV)
        self.mtu = mtu
        self.device_mtus: dict[int, int] = {} if device_mtus is None else device_mtus
        self.max_insns = max_insns  # runaway guard per run: beyond it the run faults
        # may_goto's loop budget per program frame (ebpf.semantics.MayGoto): BPF_MAX_LOOPS, as the
        # kernel counts it where the JIT has no timed may_goto (x86-64's stops after 250 ms instead)
        self.may_goto_budget = may_goto_budget
        self.extra: dict[str, Any] = {} if extra is None else extra
        # the keys a user's runtime document gave (runtime_config): an engine that cannot honour one
        # of them refuses it (engines.check_config) instead of silently answering from the host
        self.given = given
        self._check()

    def _check(self) -> None:
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


# -- a user's runtime document (replay/run --runtime FILE.json, a test spec's [runtime] table) --


class RuntimeKeyError(XdpError):
    """A bad key in a runtime document: `key` is its dotted path (fib_table[0].prefix)."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def _integer(low: int, high: int):
    def check(value: Any, key: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RuntimeKeyError(key, f"expected an integer, got {value!r}")
        if not low <= value <= high:
            raise RuntimeKeyError(key, f"{value} is out of range {low}..{high}")
        return value
    return check


def _mac(value: Any, key: str) -> str:
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise RuntimeKeyError(key, f"expected a MAC address like 02:00:00:00:00:01, got {value!r}")
    return value.lower()


def _prefix(value: Any, key: str) -> str:
    import ipaddress

    if not isinstance(value, str) or "/" not in value:
        raise RuntimeKeyError(key, f"expected a prefix like 10.0.0.0/8 or 2001:db8::/32, got {value!r}")
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        raise RuntimeKeyError(key, f"bad prefix {value!r}: {exc}") from None


def _table(value: Any, key: str, allowed: dict) -> dict:
    if not isinstance(value, dict):
        raise RuntimeKeyError(key, f"expected a table, got {value!r}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise RuntimeKeyError(f"{key}.{unknown[0]}" if key else unknown[0],
                              f"unknown key (allowed: {', '.join(allowed)})")
    return value


def _route(value: Any, key: str) -> FibRoute:
    table = _table(value, key, ROUTE_KEYS)
    for required in ("prefix", "ifindex"):
        if required not in table:
            raise RuntimeKeyError(f"{key}.{required}", "required")
    return FibRoute(**{name: ROUTE_KEYS[name](item, f"{key}.{name}") for name, item in table.items()})


def _fib_table(value: Any, key: str) -> list[FibRoute]:
    if not isinstance(value, list):
        raise RuntimeKeyError(key, "expected a list of routes ({prefix, ifindex, smac, dmac, mtu})")
    return [_route(item, f"{key}[{i}]") for i, item in enumerate(value)]


def _device_mtus(value: Any, key: str) -> dict[int, int]:
    """{IFINDEX: MTU}; JSON and TOML keys are strings of the decimal ifindex."""
    if not isinstance(value, dict):
        raise RuntimeKeyError(key, 'expected a table of ifindex to MTU, e.g. {"2": 9000}')
    mtus = {}
    for name, mtu in value.items():
        where = f"{key}.{name}"
        text = str(name)
        if isinstance(name, bool) or not text.isdigit():
            raise RuntimeKeyError(where, "expected a decimal ifindex as the key")
        mtus[_integer(1, MAX_IFINDEX)(int(text), where)] = _integer(1, MAX_MTU)(mtu, where)
    return mtus


ROUTE_KEYS = {  # a fib_table route's keys (FibRoute's fields)
    "prefix": _prefix,
    "ifindex": _integer(1, MAX_IFINDEX),
    "smac": _mac,
    "dmac": _mac,
    "mtu": _integer(1, MAX_ROUTE_MTU),
}

RUNTIME_KEYS = {  # a runtime document's keys: RuntimeConfig's fields a user may set, and their check
    "ncpus": _integer(1, MAX_NCPUS),
    "cpu": _integer(0, MAX_NCPUS - 1),
    "numa_node": _integer(0, MAX_NUMNODES - 1),
    "clock_start_ns": _integer(0, U64_MAX),
    "clock_step_ns": _integer(0, U64_MAX),
    "jiffies": _integer(0, U64_MAX),
    "prandom_seed": _integer(0, U64_MAX),
    "mtu": _integer(1, MAX_MTU),
    "device_mtus": _device_mtus,
    "fib_table": _fib_table,
    "may_goto_budget": _integer(0, S64_MAX),
    "max_insns": _integer(1, S64_MAX),
}


def runtime_config(document: Any, base: RuntimeConfig | None = None) -> RuntimeConfig:
    """The RuntimeConfig a user's document describes (its keys over `base`'s values, by default
    RuntimeConfig()'s); RuntimeKeyError naming the first bad key."""
    if not isinstance(document, dict):
        raise RuntimeKeyError("runtime", f"expected a table of runtime keys ({', '.join(RUNTIME_KEYS)})")
    values = {name: RUNTIME_KEYS[name](value, name) for name, value in _table(document, "", RUNTIME_KEYS).items()}
    base = base or RuntimeConfig()
    ncpus, cpu = values.get("ncpus", base.ncpus), values.get("cpu", base.cpu)
    if cpu >= ncpus:
        raise RuntimeKeyError("cpu", f"cpu {cpu} is outside 0..{ncpus - 1} (ncpus {ncpus})")
    return base.replace(**values, given=base.given | frozenset(values))


def read_runtime_file(path: str, base: RuntimeConfig | None = None) -> RuntimeConfig:
    """--runtime FILE.json: runtime_config of the file's document; errors name the file and key."""
    from ..jsontext import read_json

    try:
        return runtime_config(read_json(path), base)
    except RuntimeKeyError as exc:
        raise XdpError(f"{path}: {exc}") from None
