"""The contract every engine honours, so results compare byte for byte.

Engines: `vm` (reference interpreter), `jit` (fast compiled engine), `kernel`
(BPF_PROG_TEST_RUN), `nfp-emu` (the lowered NFP image on the NFP executor).
Each is created from a `Program` plus a `MapStore` and runs one packet at a time
(or a batch); map state lives in the store and carries across packets.
"""


import abc
from typing import Any, NamedTuple, Sequence

from ..diagnostic import Located
from ..record import Record

VERDICTS = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT")
VERDICT_BY_NAME = {name: code for code, name in enumerate(VERDICTS)}


def verdict_name(retval: int) -> str:
    """XDP action name for a return value; other values are returned as is."""
    return VERDICTS[retval] if 0 <= retval < len(VERDICTS) else str(retval)


class XdpContext(NamedTuple):
    """The xdp_md fields a caller may choose (data pointers are the engine's)."""

    ingress_ifindex: int = 1
    rx_queue_index: int = 0
    egress_ifindex: int = 0


class Fault(Located):
    """A checked-memory violation or other runtime fault; the run stops as XDP_ABORTED."""

    FIELDS = (*Located.FIELDS, "address", "region")

    def __init__(self, message: str, insn: int | None = None, file: str | None = None, line: int | None = None,
                 source: str | None = None, address: int | None = None, region: str | None = None):
        super().__init__(message, insn, file, line, source)
        self.address = address
        self.region = region

    def __str__(self) -> str:
        where = f" at {self.where}" if self.file else ""
        return f"insn {self.insn}{where}: {self.message}"


class RunResult(Record):
    """What one run of a program gave: verdict, packet, redirect, fault and output, on any engine."""

    FIELDS = ("retval", "packet", "redirect", "fault", "trace_printk", "events", "rx_queue", "insns_executed", "meta",
              "trace")

    def __init__(self, retval: int, packet: bytes, redirect: dict[str, Any] | None = None, fault: Fault | None = None,
                 trace_printk: list[str] | None = None, events: list[dict[str, Any]] | None = None,
                 rx_queue: int | None = None, insns_executed: int = 0, meta: bytes = b"",
                 trace: list[dict[str, Any]] | None = None):
        self.retval = retval
        self.packet = packet  # the packet after the program (adjust_head/tail and writes applied)
        self.redirect = redirect  # {"ifindex": n} or {"map": name, "key": n, ...}
        self.fault = fault
        self.trace_printk: list[str] = [] if trace_printk is None else trace_printk
        self.events: list[dict[str, Any]] = [] if events is None else events  # ringbuf / perf output
        self.rx_queue = rx_queue  # the queue the program selected (NFP: a write to xdp_md.rx_queue_index)
        self.insns_executed = insns_executed
        self.meta = meta  # metadata in front of the packet (adjust_meta), where the engine reports it
        self.trace = trace  # vm --trace: [{"pc", "insn", "changed": {"rN": value}}]

    @property
    def verdict(self) -> str:
        if self.fault is not None:
            return "XDP_ABORTED"
        return verdict_name(self.retval)


class Engine(abc.ABC):
    """What every engine offers the replay driver, the spec runner and a comparison:
    one packet, many packets, and letting go of what it holds."""

    name: str = ""  # its target name (runtime/engines.py)
    # RunResult fields this engine cannot observe (e.g. the kernel's test-run does
    # not report redirect targets or trace_printk output).
    unobservable: frozenset[str] = frozenset()

    @abc.abstractmethod
    def run(self, packet: bytes, ctx: XdpContext | None = None) -> RunResult: ...

    def run_batch(self, packets: Sequence[bytes], ctx: XdpContext | None = None) -> list[RunResult]:
        return [self.run(packet, ctx) for packet in packets]

    def close(self) -> None:
        """Release what the engine holds (kernel objects, the card's lock); nothing by default."""

    def notes(self) -> list[str]:
        """Lines for a replay's warnings about what the engine's model left out of the runs
        so far (runtime/helpers.py: an armed timer never fires); none by default."""
        return []

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PackedEngine(Engine):
    """An engine with the bulk API (packets in one flat buffer, results in flat arrays):
    the replay driver's fast path, no object per packet."""

    @abc.abstractmethod
    def run_packed(self, buffer, offsets, lengths, ctx: XdpContext | None = None): ...
