"""The bulk API: many packets in one buffer in, flat arrays out, no object per packet.

    results = engine.run_packed(buffer, offsets, lengths, ctx=None)

`buffer` holds the packets back to back (bytes, bytearray or memoryview);
packet i is ``buffer[offsets[i] : offsets[i] + lengths[i]]`` (any integer
sequences; `array('Q')` / `array('I')` as the pcap reader gives them are used
without copying).  The result, `PackedResults`, holds per packet:

- `retvals`      array('I'): the program's return value (0 when it faulted)
- `fault_codes`  array('B'): 0, or non-zero (the FaultKind) when the packet faulted
- `insns`        array('Q'): instructions executed
- `out`, `out_offsets` array('Q'), `out_lengths` array('I'): the output packet
  (after adjust_head/tail and writes) is ``out[out_offsets[i]:][:out_lengths[i]]``,
  except where the program left the packet as it came: there `out_offsets[i]`
  is UNCHANGED and the output is the input packet (`packet(i)` handles both;
  `changed(i)` tells them apart)
- sparse dicts by packet index for what is rare and rich: `faults` (Fault),
  `redirects`, `trace_printk`, `events`

and `verdict(i)`, `packet(i)`, `result(i)` (a RunResult, built on demand) and
`verdict_counts()`.  Map state carries across packets exactly as with `run`.
"""

from __future__ import annotations

import ctypes
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..contract import Fault, RunResult, verdict_name
from .batch import UNCHANGED

OUT_SLACK = 64 * 1024


@dataclass
class PackedResults:
    retvals: array
    fault_codes: array
    insns: array
    out: bytearray
    out_offsets: array
    out_lengths: array
    faults: dict[int, Fault] = field(default_factory=dict)
    redirects: dict[int, dict[str, Any]] = field(default_factory=dict)
    trace_printk: dict[int, list[str]] = field(default_factory=dict)
    events: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    source: Any = None  # the input buffer and offsets (for packets that came out unchanged)
    source_offsets: array | None = None
    rx_queues: Any = None  # per packet, the rx queue the program selected, -1 for none (the NFP's queue select)

    @classmethod
    def from_results(cls, results: list[RunResult]) -> "PackedResults":
        """The same shape from per-packet results (engines that cannot run natively)."""
        packed = cls(array("I", (r.retval & 0xFFFFFFFF for r in results)),
                     array("B", (1 if r.fault else 0 for r in results)),
                     array("Q", (r.insns_executed for r in results)), bytearray(), array("Q"), array("I"),
                     rx_queues=array("q", (-1 if r.rx_queue is None else r.rx_queue for r in results)))
        for index, r in enumerate(results):
            packed.out_offsets.append(len(packed.out))
            packed.out_lengths.append(len(r.packet))
            packed.out += r.packet
            for store, value in ((packed.faults, r.fault), (packed.redirects, r.redirect),
                                 (packed.trace_printk, r.trace_printk), (packed.events, r.events)):
                if value:
                    store[index] = value
        return packed

    def __len__(self) -> int:
        return len(self.retvals)

    def verdict(self, index: int) -> str:
        return "XDP_ABORTED" if self.fault_codes[index] else verdict_name(self.retvals[index])

    def packet(self, index: int) -> bytes:
        start = self.out_offsets[index]
        if start == UNCHANGED:
            start = self.source_offsets[index]
            return bytes(self.source[start:start + self.out_lengths[index]])
        return bytes(self.out[start:start + self.out_lengths[index]])

    def changed(self, index: int) -> bool:
        """Whether the program modified the packet (bytes, length or position)."""
        return self.out_offsets[index] != UNCHANGED

    def result(self, index: int) -> RunResult:
        return RunResult(retval=self.retvals[index], packet=self.packet(index),
                         redirect=self.redirects.get(index), fault=self.faults.get(index),
                         trace_printk=self.trace_printk.get(index, []), events=self.events.get(index, []),
                         insns_executed=self.insns[index])

    def verdict_counts(self) -> Counter:
        counts: Counter = Counter()
        for index in range(len(self)):
            counts[self.verdict(index)] += 1
        return counts


def as_array(values, typecode: str) -> array:
    """`values` as an array of `typecode` (no copy if it already is one)."""
    if isinstance(values, array) and values.typecode == typecode:
        return values
    return array(typecode, values)


def readable_address(buf) -> tuple[int, object]:
    """Host address of a bytes-like object's first byte, and what keeps it alive."""
    if isinstance(buf, bytes):
        holder = ctypes.c_char_p(buf)  # points into the bytes object itself
        return ctypes.cast(holder, ctypes.c_void_p).value or 0, (buf, holder)
    view = memoryview(buf)
    if view.readonly:
        copy = bytes(view)
        return readable_address(copy)
    if len(view) == 0:
        return 0, None
    pinned = (ctypes.c_char * view.nbytes).from_buffer(view)
    return ctypes.addressof(pinned), pinned


def address_of(values: array) -> int:
    return values.buffer_info()[0]
