"""Replay one capture on two targets in lockstep and name every difference.

Both sides run the same chunk, then their results are compared packet by
packet (verdict, return value, output bytes, redirect target, fault) and their
map states after the chunk.  Map states are only visible between engine calls,
so when they part within a chunk, both sides are rebuilt fresh and the chunk is
re-run one packet at a time to find the packet after which they differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..runtime.contract import XdpContext
from .driver import CHUNK_PACKETS, check_linktype, chunk_runner, runnable
from .pcap import Capture
from .results import Chunk

MISMATCHES_KEPT = 20
# Fields an engine cannot report, so a comparison with it leaves them out: the
# kernel's test run returns XDP_REDIRECT but not where to (kernel/engine.py).
UNREPORTED_FIELDS = {"kernel": {"redirect"}}


@dataclass
class Side:
    """One target of a comparison: a name and a factory for a fresh (engine, maps)."""

    name: str
    make: Callable[[], tuple[Any, Any]]


@dataclass
class Mismatch:
    index: int  # packet index
    field: str  # "verdict", "retval", "data_out byte 12", "length", "redirect", "fault", "map NAME key HEX"
    values: tuple[Any, Any]

    def describe(self, names: tuple[str, str]) -> str:
        shown = ", ".join(f"{name} {_show(value)}" for name, value in zip(names, self.values))
        return f"packet {self.index}: {self.field}: {shown}"

    def as_dict(self, names: tuple[str, str]) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, **dict(zip(names, self.values))}


def _show(value: Any) -> str:
    return "absent" if value is None else str(value)


@dataclass
class Comparison:
    names: tuple[str, str]
    packets: int
    differing_packets: int
    mismatches: list[Mismatch]  # the first MISMATCHES_KEPT
    not_run: int = 0  # packets under 14 bytes left out because a side is the kernel
    not_compared: list[str] = field(default_factory=list)  # fields a side cannot report

    @property
    def identical(self) -> bool:
        return self.differing_packets == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "targets": list(self.names),
            "packets": self.packets,
            "identical": self.identical,
            "differing_packets": self.differing_packets,
            "not_run": self.not_run,
            "not_compared": self.not_compared,
            "mismatches": [m.as_dict(self.names) for m in self.mismatches],
        }


def packet_differences(a: Chunk, b: Chunk, i: int, skip: frozenset[str] = frozenset()) -> list[Mismatch]:
    index = a.index(i)
    found = []
    for name, get in (("verdict", Chunk.verdict), ("retval", lambda c, j: c.retvals[j])):
        va, vb = get(a, i), get(b, i)
        if va != vb:
            found.append(Mismatch(index, name, (va, vb)))
    out_a, out_b = a.output(i), b.output(i)
    if out_a != out_b:
        offset = next((k for k, (x, y) in enumerate(zip(out_a, out_b)) if x != y), None)
        if offset is not None:
            found.append(Mismatch(index, f"data_out byte {offset}", (f"0x{out_a[offset]:02x}", f"0x{out_b[offset]:02x}")))
        else:
            found.append(Mismatch(index, "data_out length", (len(out_a), len(out_b))))
    if "redirect" not in skip and a.redirects.get(i) != b.redirects.get(i):
        found.append(Mismatch(index, "redirect", (a.redirects.get(i), b.redirects.get(i))))
    fault_a, fault_b = a.faults.get(i), b.faults.get(i)
    if (fault_a is None) != (fault_b is None) or (fault_a and fault_b and fault_a.insn != fault_b.insn):
        found.append(Mismatch(index, "fault", (fault_a and str(fault_a), fault_b and str(fault_b))))
    return found


def map_differences(index: int, dump_a: dict, dump_b: dict) -> list[Mismatch]:
    found = []
    for name in dict.fromkeys([*dump_a, *dump_b]):
        entries_a = {e["key"]: e["value"] for e in dump_a.get(name, [])}
        entries_b = {e["key"]: e["value"] for e in dump_b.get(name, [])}
        for key in dict.fromkeys([*entries_a, *entries_b]):
            va, vb = entries_a.get(key), entries_b.get(key)
            if va != vb:
                found.append(Mismatch(index, f"map {name} key {key}", (va, vb)))
    return found


def compare(
    capture: Capture,
    first: Side,
    second: Side,
    ctx: XdpContext | None = None,
    chunk_packets: int = CHUNK_PACKETS,
    run_short: bool = True,
) -> Comparison:
    """Both sides over the capture in lockstep; run_short=False leaves runts out on both."""
    check_linktype(capture)
    file_packets = len(capture)
    ctx = ctx or XdpContext()
    sides = [side.make() for side in (first, second)]
    runners = [chunk_runner(engine) for engine, _ in sides]
    capture = runnable(capture, *(engine for engine, _ in sides), run_short=run_short)
    skip = frozenset().union(*(UNREPORTED_FIELDS.get(getattr(engine, "name", ""), set()) for engine, _ in sides))
    differing: set[int] = set()
    kept: list[Mismatch] = []

    def note(mismatches: list[Mismatch]) -> None:
        for mismatch in mismatches:
            differing.add(mismatch.index)
            if len(kept) < MISMATCHES_KEPT:
                kept.append(mismatch)

    maps_diverged = False
    for start in range(0, len(capture), chunk_packets):
        stop = min(start + chunk_packets, len(capture))
        chunk_a, chunk_b = (run(capture, start, stop, ctx) for run in runners)
        for i in range(len(chunk_a)):
            note(packet_differences(chunk_a, chunk_b, i, skip))
        if not maps_diverged:
            dumps = [maps.dump() for _, maps in sides]
            if dumps[0] != dumps[1]:
                maps_diverged = True  # later chunks differ anyway; locate the first packet only
                note(_locate_map_divergence(capture, first, second, start, stop, ctx))
    names = (first.name, second.name)
    ordered = sorted(kept, key=lambda m: m.index)
    return Comparison(names, len(capture), len(differing), ordered, file_packets - len(capture), sorted(skip))


def _locate_map_divergence(capture, first: Side, second: Side, start: int, stop: int, ctx) -> list[Mismatch]:
    """Re-run fresh sides up to `start`, then packet by packet until the map states part."""
    sides = [side.make() for side in (first, second)]
    runners = [chunk_runner(engine) for engine, _ in sides]
    if start:
        for run in runners:
            run(capture, 0, start, ctx)
    for index in range(start, stop):
        for run in runners:
            run(capture, index, index + 1, ctx)
        found = map_differences(_file_index(capture, index), *(maps.dump() for _, maps in sides))
        if found:
            return found
    # engines that only publish map state at the end of a batch: report the chunk's last packet
    return map_differences(_file_index(capture, stop - 1), *(maps.dump() for _, maps in sides))


def _file_index(capture: Capture, index: int) -> int:
    return index if capture.source_index is None else capture.source_index[index]
