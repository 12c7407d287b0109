"""The bulk API: many packets in one buffer in, flat arrays out, no object per packet.

    results = engine.run_packed(buffer, offsets, lengths, ctx=None)

`buffer` holds the packets back to back (bytes, bytearray or memoryview);
packet i is ``buffer[offsets[i] : offsets[i] + lengths[i]]`` (any integer
sequences; `array('Q')` / `array('I')` as the pcap reader gives them are used
without copying).  The result, `PackedResults`, holds per packet:

- `retvals`      array('I'): the program's return value (0 when it faulted)
- `fault_codes`  array('B'): 0, or non-zero (the FaultKind) when the packet faulted
- `insns`        array('Q'): instructions executed
- `out` (a bytes-like buffer: the changed packets back to back), `out_offsets`
  array('Q'), `out_lengths` array('I'): the output packet (after
  adjust_head/tail and writes) is ``out[out_offsets[i]:][:out_lengths[i]]``,
  except where the program left the packet as it came: there `out_offsets[i]`
  is UNCHANGED and the output is the input packet (`packet(i)` handles both;
  `changed(i)` tells them apart)
- sparse mappings by packet index for what is rare and rich: `faults` (Fault),
  `redirects` (a `RedirectTargets`: the native log, each target decoded into its
  dict only when asked for), `trace_printk`, `events`

and `verdict(i)`, `packet(i)`, `result(i)` (a RunResult, built on demand) and
`verdict_counts()`.  Map state carries across packets exactly as with `run`.
"""


import ctypes
import mmap
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping
from typing import Any, Iterator, NamedTuple

from ..contract import Fault, RunResult, verdict_name
from ..helpers import broadcast_target, ifindex_target, map_target
from .layout import REDIRECT_WORDS, UNCHANGED, RedirectKind

OUT_SLACK = 64 * 1024
MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)  # Linux's value; Python 3.11 does not export it
OUT_RESERVE_MAX = 1 << 30  # address space reserved for one call's output before it must grow


class OutputArea:
    """Where the packet loop appends changed packets: an anonymous mapping reserved
    large (MAP_NORESERVE) and touched only as far as it is written, so neither a
    zero-fill nor a copy-on-grow costs anything per packet; it grows in place
    (mremap).  An engine keeps the area of its last call and reuses it once nothing
    holds that call's `out` any more (a streaming replay's chunks, one after the
    other), so its pages are not faulted in again for every chunk."""

    def __init__(self, reserve: int):
        size = max(reserve, mmap.PAGESIZE)
        try:
            self._map = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | MAP_NORESERVE)
        except OSError:  # a system that refuses the reservation: commit it
            self._map = mmap.mmap(-1, size)

    @property
    def capacity(self) -> int:
        return len(self._map)

    def address(self) -> int:
        """Host address of byte 0 (valid until `grow`)."""
        pin = ctypes.c_char.from_buffer(self._map)
        address = ctypes.addressof(pin)
        del pin
        return address

    def grow(self, at_least: int = 0) -> None:
        """Twice the capacity (or `at_least`), its bytes kept."""
        self._map.resize(max(2 * len(self._map), at_least))

    def free(self) -> bool:
        """Whether no earlier result still views these bytes (mmap refuses to resize then)."""
        try:
            self._map.resize(len(self._map))
        except BufferError:
            return False
        return True

    def result(self, used: int) -> memoryview:
        """The first `used` bytes, for PackedResults.out (the mapping lives as long as the view)."""
        return memoryview(self._map)[:used]


class MapRef(NamedTuple):
    """What a redirect target's record says about its map (as helpers.map_target reads a Map)."""

    name: str
    type: Any


class RedirectTargets(Mapping):
    """Packet index -> redirect target (RunResult.redirect), kept as the packet loop
    logged it: REDIRECT_WORDS words per redirected packet (index, kind, map index,
    key, target, flags) in ascending index order, decoded into a dict only when
    looked up.  Targets set by Python helpers are kept as dicts beside the log."""

    def __init__(self, maps: tuple[MapRef, ...] = (), log: array | None = None):
        self.maps = maps
        self.log = log if log is not None else array("Q")
        self.extra: dict[int, dict] = {}
        self._indices: array | None = None

    def append_log(self, records: array) -> None:
        self.log.extend(records)
        self._indices = None

    def __setitem__(self, index: int, target: dict) -> None:
        self.extra[index] = target

    def _position(self, index: int) -> int:
        if self._indices is None:
            self._indices = self.log[::REDIRECT_WORDS]
        at = bisect_left(self._indices, index)
        return at if at < len(self._indices) and self._indices[at] == index else -1

    def __getitem__(self, index: int) -> dict:
        if index in self.extra:
            return self.extra[index]
        at = self._position(index) if index >= 0 else -1
        if at < 0:
            raise KeyError(index)
        return self.decode(self.log[at * REDIRECT_WORDS + 1:(at + 1) * REDIRECT_WORDS])

    def __contains__(self, index: object) -> bool:
        return index in self.extra or (isinstance(index, int) and index >= 0 and self._position(index) >= 0)

    def __len__(self) -> int:
        return len(self.log) // REDIRECT_WORDS + len(self.extra)

    def __iter__(self) -> Iterator[int]:
        if not self.extra:
            return iter(self.log[::REDIRECT_WORDS])
        return iter(sorted([*self.log[::REDIRECT_WORDS], *self.extra]))

    def decode(self, record) -> dict | None:
        """RunResult.redirect from one record's (kind, map index, key, target, flags)."""
        kind, map_index, key, target, flags = record
        if kind == RedirectKind.IFINDEX:
            return ifindex_target(target)
        if kind == RedirectKind.MAP:
            return map_target(self.maps[map_index], key, target)
        if kind == RedirectKind.BROADCAST:
            return broadcast_target(self.maps[map_index], flags)
        return None

    def __reduce__(self):  # sent between processes as the raw log
        return _rebuild_targets, (self.maps, self.log, self.extra)


def _rebuild_targets(maps, log, extra) -> RedirectTargets:
    targets = RedirectTargets(maps, log)
    targets.extra.update(extra)
    return targets


# -- the native event log (events.py writes it) ---------------------------------------------------
HEADER_WORDS = 4  # per record: packet index, map index, CPU slot (RINGBUF_CPU: a ring buffer), payload bytes
RINGBUF_CPU = (1 << 64) - 1
EV_MAP_WORDS = 2  # per map index: the run a ring buffer's count is for, the bytes it used
GROW_EVENTS = (1 << 32) + 2  # pseudo helper id: the callback grows the log (maps.GROW_REGIONS is + 1)
# ring buffer records made natively (records.py)
RECORD_META_WORDS = 3  # per record slot: host address, size, map index
GROW_ARENA = (1 << 32) + 3  # pseudo helper id: a fresh arena for the run's next records


# trace_printk's lines in the same log (printk.py): map index PRINTK_MAP, then the format's
# number where the CPU slot is (TEXT_RECORD: the line itself, made by the Python helper)
PRINTK_MAP = (1 << 64) - 1
TEXT_RECORD = (1 << 64) - 1
RUNTIME_FORMAT = (1 << 64) - 2  # a native record of a format read at run time (printk.decode_runtime_record)


def printk_lines(words, used: int, formats: list[bytes]) -> Iterator[tuple[int, str]]:
    """(packet index, trace line) for each trace_printk record of a log's first `used` words."""
    from ..printk import decode_record, decode_runtime_record

    raw = memoryview(words).cast("B")
    at = 0
    while at < used:
        index, map_index, number, length = words[at:at + HEADER_WORDS]
        if map_index == PRINTK_MAP:
            start = (at + HEADER_WORDS) * 8
            payload = bytes(raw[start:start + length])
            yield index, (payload.decode("latin-1") if number == TEXT_RECORD else decode_runtime_record(payload)
                          if number == RUNTIME_FORMAT else decode_record(payload, formats[number]))
        at += HEADER_WORDS + (length + 7) // 8


def decode_events(words, used: int, map_names: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(packet index, event) for each record of a log's first `used` words, as the runtime's
    helpers (ringbuf_output, perf_event_output) make the events."""
    raw = memoryview(words).cast("B")
    at = 0
    while at < used:
        index, map_index, cpu, length = words[at:at + HEADER_WORDS]
        start = (at + HEADER_WORDS) * 8
        data = raw[start:start + length].hex()
        if map_index == PRINTK_MAP:
            pass
        elif cpu == RINGBUF_CPU:
            yield index, {"type": "ringbuf", "map": map_names[map_index], "data": data}
        else:
            yield index, {"type": "perf", "map": map_names[map_index], "cpu": cpu, "data": data}
        at += HEADER_WORDS + (length + 7) // 8


class EventRecords(dict):
    """packet index -> its events: a dict whose native log pieces (`add_log`) are decoded only
    when something looks (a replay's summary never does), before anything else is added."""

    @staticmethod
    def decode(words, used: int, names: list[str]):
        return decode_events(words, used, names)

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._pending: list[tuple[array, list]] = []

    def add_log(self, words: array, names: list) -> None:
        self._pending.append((words, names))

    def settle(self) -> "EventRecords":
        """Decode the pending log pieces into the dict."""
        pending, self._pending = self._pending, []
        for words, names in pending:
            for index, item in self.decode(words, len(words), names):
                dict.setdefault(self, index, []).append(item)
        return self

    def __eq__(self, other) -> bool:
        return dict.__eq__(self.settle(), other.settle() if isinstance(other, EventRecords) else other)

    __hash__ = None  # type: ignore[assignment]


def _settling(method):
    def settled(self, *args, **kw):
        return method(self.settle() if self._pending else self, *args, **kw)
    settled.__name__ = method.__name__
    return settled


for _read in ("__getitem__", "__contains__", "__iter__", "__len__", "__repr__", "get", "items", "keys", "values",
              "setdefault", "pop", "copy"):
    setattr(EventRecords, _read, _settling(getattr(dict, _read)))


class TraceLines(EventRecords):
    """packet index -> its trace_printk lines, the native sites' made from the log (printk.py)
    only when something looks: making a line is Python's formatting, ~5 us each."""

    @staticmethod
    def decode(words, used: int, formats: list[bytes]):
        return printk_lines(words, used, formats)


class PackedResults:
    """The results of a bulk run as flat arrays, one entry per packet.  (A plain class, not a
    dataclass: runs fill it in, and a dataclass compiles its methods at every start.)"""

    __slots__ = ("retvals", "fault_codes", "insns", "out", "out_offsets", "out_lengths", "faults", "redirects",
                 "trace_printk", "events", "source", "source_offsets", "rx_queues")

    def __init__(self, retvals: array, fault_codes: array, insns: array, out: Any, out_offsets: array,
                 out_lengths: array, faults: dict[int, Fault] | None = None, redirects: RedirectTargets | None = None,
                 trace_printk: TraceLines | None = None, events: EventRecords | None = None, source: Any = None,
                 source_offsets: array | None = None, rx_queues: Any = None) -> None:
        self.retvals, self.fault_codes, self.insns = retvals, fault_codes, insns
        self.out = out  # bytes-like: bytearray, or a memoryview of the engine's OutputArea
        self.out_offsets, self.out_lengths = out_offsets, out_lengths
        self.faults: dict[int, Fault] = {} if faults is None else faults
        self.redirects = RedirectTargets() if redirects is None else redirects
        self.trace_printk = TraceLines() if trace_printk is None else trace_printk
        self.events = EventRecords() if events is None else events
        self.source = source  # the input buffer and offsets (for packets that came out unchanged)
        self.source_offsets = source_offsets
        self.rx_queues = rx_queues  # per packet, the rx queue the program selected, -1 for none (the NFP's queue select)

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
