"""What a replay produced: per-packet records, the summary, and map-state changes.

Engines hand back results in different shapes (a list of `RunResult`s, or flat
arrays from a bulk run); `Chunk` gives consecutive packets one shape so that
the summary, the output pcaps, the JSON documents and the comparison read them
the same way.  The summary is built incrementally, chunk by chunk, without a
per-packet Python loop where the engine returned flat arrays.
"""

from __future__ import annotations

import sys
from array import array
from collections import Counter
from typing import Any, Callable, Mapping, Sequence

from ..runtime.contract import VERDICTS, Fault, RunResult, verdict_name

SHORT_PACKET_NOTE = "the kernel's test-run refuses packets under 14 bytes; run here anyway"
SHORT_PACKET_NOT_RUN = "the kernel's test-run refuses packets under 14 bytes; left out on this target"
FAULTS_LISTED = 10  # individually described faults in a summary
KEYS_LISTED = 20  # individually listed keys per map and kind of change


class Chunk:
    """Results of packets start .. start+len-1, in whichever form the engine gave them.  (A
    plain class: the driver fills it in, and a dataclass compiles its methods at every start.)"""

    __slots__ = ("start", "retvals", "out_lengths", "output", "faults", "redirects", "queues", "trace", "events",
                 "indices", "packed", "capture")

    def __init__(self, start: int, retvals: Sequence[int], out_lengths: Sequence[int], output: Callable[[int], bytes],
                 faults: dict[int, Fault] | None = None, redirects: dict[int, dict[str, Any]] | None = None,
                 queues: dict[int, int] | None = None, indices: Sequence[int] | None = None, packed: Any = None,
                 capture: Any = None, trace: Mapping[int, list[str]] | None = None,
                 events: Mapping[int, list[dict[str, Any]]] | None = None) -> None:
        self.start, self.retvals, self.out_lengths = start, retvals, out_lengths
        self.output = output  # relative index -> packet after the program
        self.faults: dict[int, Fault] = {} if faults is None else faults  # relative index -> fault
        self.redirects: dict[int, dict[str, Any]] = {} if redirects is None else redirects  # relative index -> target
        self.queues: dict[int, int] = {} if queues is None else queues  # relative index -> rx queue the program selected
        self.trace: Mapping[int, list[str]] = {} if trace is None else trace  # relative index -> bpf_trace_printk lines
        self.events: Mapping[int, list[dict[str, Any]]] = {} if events is None else events  # ... -> ringbuf/perf events
        self.indices = indices  # index in the capture file of each packet, when not start+i
        self.packed = packed  # the engine's PackedResults, when it gave flat arrays (bulk pcap output)
        self.capture = capture  # the Capture piece these packets came from, packet i at its i (when indices is None)

    def __len__(self) -> int:
        return len(self.retvals)

    def index(self, i: int) -> int:
        """The packet's index in the capture file (what every report names)."""
        return self.start + i if self.indices is None else self.indices[i]

    def verdict(self, i: int) -> str:
        return "XDP_ABORTED" if i in self.faults else verdict_name(self.retvals[i])

    @classmethod
    def from_results(cls, start: int, results: Sequence[RunResult]) -> "Chunk":
        return cls(
            start=start,
            retvals=[r.retval for r in results],
            out_lengths=[len(r.packet) for r in results],
            output=lambda i: results[i].packet,
            faults={i: r.fault for i, r in enumerate(results) if r.fault is not None},
            redirects={i: r.redirect for i, r in enumerate(results) if r.redirect is not None},
            queues={i: r.rx_queue for i, r in enumerate(results) if r.rx_queue is not None},
            trace={i: r.trace_printk for i, r in enumerate(results) if r.trace_printk},
            events={i: r.events for i, r in enumerate(results) if r.events},
        )


def fault_record(fault: Fault) -> dict[str, Any]:
    return {"insn": fault.insn, "line": fault.where or None, "source": fault.source or None, "message": fault.message}


def packet_record(chunk: Chunk, i: int) -> dict[str, Any]:
    """One packet's result as it appears in --json / --jsonl output."""
    record: dict[str, Any] = {
        "index": chunk.index(i),
        "verdict": chunk.verdict(i),
        "retval": chunk.retvals[i],
        "data_out": chunk.output(i).hex(),
    }
    if i in chunk.redirects:
        record["redirect"] = chunk.redirects[i]
    if i in chunk.queues:
        record["rx_queue"] = chunk.queues[i]
    if i in chunk.faults:
        record["fault"] = fault_record(chunk.faults[i])
    for name, per_packet in (("trace_printk", chunk.trace), ("events", chunk.events)):
        if i in per_packet:
            record[name] = per_packet[i]
    return record


def _entries(dump_of_map: list[dict[str, Any]]) -> dict[str, Any]:
    return {entry["key"]: entry["value"] for entry in dump_of_map}


def map_changes(before: dict[str, list], after: dict[str, list]) -> dict[str, dict[str, Any]]:
    """Per map: how many keys were added, changed and removed (and the first few of each)."""
    changes = {}
    for name in dict.fromkeys([*before, *after]):
        old, new = _entries(before.get(name, [])), _entries(after.get(name, []))
        kinds = {
            "added": [k for k in new if k not in old],
            "changed": [k for k in new if k in old and new[k] != old[k]],
            "removed": [k for k in old if k not in new],
        }
        if any(kinds.values()):
            changes[name] = {kind: len(keys) for kind, keys in kinds.items()}
            changes[name]["keys"] = {kind: keys[:KEYS_LISTED] for kind, keys in kinds.items() if keys}
    return changes


def count_small_values(values, limit: int) -> list[int]:
    """How often each of 0..limit-1 occurs in `values`.

    On an unsigned array whose values all fit in a byte (the usual verdicts),
    counts bytes of the low-byte column instead of boxing every element: a
    million return values in about a millisecond instead of 70.
    """
    if isinstance(values, array) and values.typecode in "BHILQ" and sys.byteorder == "little":
        raw = values.tobytes()
        low = raw[:: values.itemsize]
        if raw.count(0) - low.count(0) == len(raw) - len(low):  # every higher byte is zero
            return [low.count(code) for code in range(limit)]
    return [values.count(code) for code in range(limit)]


def _tallies(retvals, out_lengths) -> tuple[list[int], int]:
    """(count of each verdict code, total output bytes) of a chunk: one native pass over each
    of the bulk API's flat arrays, else Python (lists, or no native code)."""
    if all(isinstance(a, array) and a.typecode in "IL" and a.itemsize == 4 for a in (retvals, out_lengths)):
        from .kernels import tally

        try:
            counts, _ = tally(retvals, len(VERDICTS))
            return counts[:-1], tally(out_lengths, 0)[1]
        except ImportError:  # no llvmlite and nothing cached
            pass
    return count_small_values(retvals, len(VERDICTS)), sum(out_lengths)


class SummaryBuilder:
    """Accumulates verdict counts, byte totals and faults chunk by chunk; what the
    capture held (odd records, warnings) comes from the stream when it is finished."""

    def __init__(self, stream, program_name: str, target: str):
        self.stream = stream
        self.program_name = program_name
        self.target = target
        self.verdicts: Counter[str] = Counter({name: 0 for name in VERDICTS})
        self.bytes_in = 0
        self.bytes_out = 0
        self.fault_count = 0
        self.faults: list[dict[str, Any]] = []
        self.queues: Counter[int] = Counter()  # rx queue the program selected -> packets (the NFP's queue select)
        self.done = 0

    def add(self, chunk: Chunk, bytes_in: int = 0) -> None:
        """One chunk's results (any packets, in any order: faults keep the lowest indices);
        `bytes_in`: the captured bytes of the packets it ran."""
        retvals = chunk.retvals
        counts, bytes_out = _tallies(retvals, chunk.out_lengths)
        known = 0
        for code, count in enumerate(counts):
            self.verdicts[VERDICTS[code]] += count
            known += count
        if known != len(retvals):  # unusual return values: name them by number
            self.verdicts.update(str(r) for r in retvals if not 0 <= r < len(VERDICTS))
        for i, fault in chunk.faults.items():
            self.verdicts[verdict_name(retvals[i])] -= 1
            self.verdicts["XDP_ABORTED"] += 1
            self.fault_count += 1
            index = chunk.index(i)
            if len(self.faults) < FAULTS_LISTED or index < self.faults[-1]["index"]:
                self.faults.append({"index": index, **fault_record(fault)})
                self.faults.sort(key=lambda f: f["index"])
                del self.faults[FAULTS_LISTED:]
        self.queues.update(chunk.queues.values())
        self.bytes_out += bytes_out
        self.bytes_in += bytes_in
        self.done += len(chunk)

    def finish(self, maps_before: dict, maps_after: dict, elapsed: float) -> dict[str, Any]:
        stream = self.stream
        left_out = stream.packets - self.done
        return {
            "capture": stream.path,
            "program": self.program_name,
            "target": self.target,
            "packets": self.done,
            "verdicts": dict(self.verdicts),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "short_packets": {
                "count": stream.short_count,
                "first": stream.first["short"],
                "note": (SHORT_PACKET_NOT_RUN if left_out else SHORT_PACKET_NOTE) if stream.short_count else None,
                "not_run": left_out,
            },
            "zero_length": stream.zero_count,
            "snaplen_cut": stream.cut_count,
            "faults": {"count": self.fault_count, "first": self.faults},
            "selected_queues": {str(q): n for q, n in sorted(self.queues.items())},
            "map_changes": map_changes(maps_before, maps_after),
            "warnings": list(stream.warnings),
            "seconds": round(elapsed, 6),
            "packets_per_second": round(self.done / elapsed) if elapsed > 0 else None,
        }
