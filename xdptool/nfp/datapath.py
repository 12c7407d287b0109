"""The card's datapath around the offloaded program: verdicts, receive queues, counters, perf events.

What CoreNIC does with a packet once the program has run (platform/nfp_driver.py has
the facts and their sources): XDP_DROP ends on the card, XDP_TX goes back out of the
ingress port, XDP_ABORTED (and any return code above XDP_TX: the card cannot
redirect) is dropped and counted apart, XDP_PASS goes through RSS to a host receive
queue.  RSS comes after the program, so it hashes the packet as the program left it
(CRC-32 from the key's first word over addresses and TCP/UDP ports), and a queue the
program selected (a write to rx_queue_index) is taken unless it is beyond the vNIC's
rings.  Counters carry the nfp driver's ethtool -S names: bpf_pass_* and
bpf_app1-3_* per verdict, rxq_N_* per host queue, the MAC's per port.  Perf events
travel as the firmware's control messages and are decoded by the driver's rules
(cmsg.py), so a reader sees what nfp_bpf_event_output hands to bpf_event_output.

Ports: the capture arrives on port 0, as the card model's traffic (card.py).
"""

from __future__ import annotations

import ctypes
import sys
from array import array
from itertools import compress
from typing import Any

from ..codegen.flow_ir import BE16_IR, flow_walk_ir, step_ir
from ..codegen.ir_text import OUTPUT_PACKET_IR
from ..platform import nfp_driver as drv
from ..platform.rss import INDIRECTION_ENTRIES, KEY, crc32_be, crc_table, hash_input, indirection_table

RETVAL_VERDICT = dict(enumerate(drv.CARD_VERDICTS))  # jit.c nfp_outro_xdp; others abort
CONTROL_CPU = 0  # [inv] the host CPU that takes the control vNIC's messages (events with BPF_F_CURRENT_CPU)


def card_verdict(retval: int, faulted: bool = False) -> str:
    return "XDP_ABORTED" if faulted else RETVAL_VERDICT.get(retval, "XDP_ABORTED")


class Datapath:
    """The card's side of a replay: counts per verdict, port and host queue; queue choice."""

    def __init__(self, rings: int = 1, key: bytes = KEY, port: int = 0):
        if not 1 <= rings <= INDIRECTION_ENTRIES:
            from ..errors import XdpError

            raise XdpError(f"the card's host queues: 1 to {INDIRECTION_ENTRIES}, not {rings}")
        self.rings, self.port = rings, port
        self.key_word = drv.rss_key_word(key)
        self.table = indirection_table(rings)
        self.verdicts = {v: [0, 0] for v in drv.CARD_VERDICTS}  # verdict -> [packets, bytes]
        self.ports = {port: dict.fromkeys(drv.PORT_STATS, 0)}
        self.queues = [{"pkts": 0, "bytes": 0, "rss": 0, "program": 0, "selected_beyond": 0} for _ in range(rings)]
        self.events = {"delivered": 0, "dropped": 0, "bytes": 0}

    # -- RSS ----------------------------------------------------------------------------------------------
    def rss_hash(self, packet: bytes) -> int | None:
        """The firmware's hash of a packet, None when it has no IP header (queue 0, no hash)."""
        data = hash_input(packet)
        return crc32_be(data, self.key_word) if data else None

    def queue_of(self, packet: bytes, selected: int | None) -> tuple[int, str]:
        """(host queue, how chosen) of a passed packet: the program's queue if within the rings,
        else RSS ("selected_beyond" when the program asked for a queue past them)."""
        if selected is not None and selected < self.rings:
            return selected, "program"
        value = self.rss_hash(packet) if self.rings > 1 else None
        queue = self.table[value & (INDIRECTION_ENTRIES - 1)] if value is not None else 0
        return queue, ("rss" if selected is None else "selected_beyond")

    # -- accounting ---------------------------------------------------------------------------------------
    def received(self, packets: int, octets: int) -> None:
        port = self.ports[self.port]
        port["rx_frames_received_ok"] += packets
        port["rx_octets"] += octets

    def count(self, verdict: str, packets: int, octets: int) -> None:
        self.verdicts[verdict][0] += packets
        self.verdicts[verdict][1] += octets
        if verdict == "XDP_TX":  # out of the ingress port
            port = self.ports[self.port]
            port["tx_frames_transmitted_ok"] += packets
            port["tx_octets"] += octets

    def deliver_packed(self, packed, count: int, per_queue_classes: bool = False) -> tuple[bytes, array | None]:
        """queue_of and deliver for a chunk's flat results (runtime/jit/packed.py) in one native
        pass: (each packet's host queue, NOT_PASSED for the others; with per_queue_classes,
        rings x count codes, PASS where packet i went to queue q, for the per-queue pcaps)."""
        from ..runtime.jit.packed import address_of, readable_address

        queue_of = bytearray(count)
        counts = array("Q", bytes(8 * len(HOW_COLUMNS) * self.rings))
        classes = array("I", bytes(4 * self.rings * count)) if per_queue_classes else None
        if count:
            in_base, _keep_in = readable_address(packed.source) if packed.source is not None else (0, None)
            out_base, _keep_out = readable_address(packed.out)
            selected = packed.rx_queues if isinstance(packed.rx_queues, array) else None
            in_offsets = packed.source_offsets if packed.source_offsets is not None else packed.out_offsets
            table = (ctypes.c_uint32 * 256)(*crc_table())
            reta = (ctypes.c_uint8 * INDIRECTION_ENTRIES)(*self.table)
            queue_pin = (ctypes.c_char * count).from_buffer(queue_of)
            _native()(count, address_of(packed.retvals), address_of(packed.fault_codes),
                      address_of(selected) if selected is not None and len(selected) else None, in_base,
                      address_of(in_offsets) if len(in_offsets) else None, out_base, address_of(packed.out_offsets),
                      address_of(packed.out_lengths), self.key_word, table, reta, self.rings,
                      ctypes.addressof(queue_pin), address_of(counts), address_of(classes) if classes else None)
            del queue_pin
        width = len(HOW_COLUMNS)
        for q, row in enumerate(self.queues):
            for k, name in enumerate(HOW_COLUMNS):
                row[name] += counts[q * width + k]
        return bytes(queue_of), classes

    def deliver(self, queue: int, how: str, octets: int) -> None:
        row = self.queues[queue]
        row["pkts"] += 1
        row["bytes"] += octets
        row[how] += 1

    def count_retvals(self, retvals, out_lengths, faults: dict) -> None:
        """Verdict counters of a chunk without a Python step per packet where it can: the low
        byte of each return code picks the verdict (bytes.translate), the lengths are summed per
        verdict (itertools.compress); codes 4..255 abort.  Faults or wider codes: packet by packet."""
        low = small_values(retvals)
        if low is None or faults:
            for i, retval in enumerate(retvals):
                self.count(card_verdict(retval, i in faults), 1, out_lengths[i])
            return
        counted = counted_bytes = 0
        for code, verdict in RETVAL_VERDICT.items():
            mask = low.translate(MASKS[code])
            packets = mask.count(1)
            if packets:
                octets = sum(compress(out_lengths, mask))
                self.count(verdict, packets, octets)
                counted, counted_bytes = counted + packets, counted_bytes + octets
        if counted != len(low):
            self.count("XDP_ABORTED", len(low) - counted, sum(out_lengths) - counted_bytes)

    def event(self, decoded: dict | None) -> None:
        if decoded is None:
            self.events["dropped"] += 1
            return
        self.events["delivered"] += 1
        self.events["bytes"] += decoded["size"] + decoded["pkt_size"]

    def report(self) -> dict[str, Any]:
        """The card's counters, by the driver's ethtool names, and how queues were chosen."""
        ethtool: dict[str, int] = {}
        for verdict, stem in drv.VERDICT_STATS.items():  # the driver's order: APP0 (pass), APP1-3
            packets, octets = self.verdicts[verdict]
            ethtool[f"{stem}_pkts"], ethtool[f"{stem}_bytes"] = packets, octets
        for q, row in enumerate(self.queues):
            pkts, octets = (name.format(q=q) for name in drv.QUEUE_STATS)
            ethtool[pkts], ethtool[octets] = row["pkts"], row["bytes"]
        return {
            "verdicts": {v: {"packets": self.verdicts[v][0], "bytes": self.verdicts[v][1]} for v in drv.VERDICT_STATS},
            "ethtool": ethtool,
            "ports": {str(p): dict(c) for p, c in self.ports.items()},
            "queues": {str(q): dict(row) for q, row in enumerate(self.queues)},
            "perf_events": dict(self.events),
            "rss": {"hash": drv.RSS_HASH, "key_word": f"{self.key_word:#010x}", "rings": self.rings,
                    "indirection": "round robin (ethtool_rxfh_indir_default)"},
        }


def small_values(values) -> bytes | None:
    """The values as one byte each, or None when one does not fit a byte."""
    if hasattr(values, "tobytes") and values.typecode in "BHILQ" and sys.byteorder == "little":
        raw = values.tobytes()
        low = raw[::values.itemsize]
        return low if raw.count(0) - low.count(0) == len(raw) - len(low) else None
    return bytes(values) if all(0 <= v < 256 for v in values) else None


MASKS = {code: bytes(1 if b == code else 0 for b in range(256)) for code in RETVAL_VERDICT}


def merge_stats(saved: dict[str, int] | None, report: dict[str, Any]) -> dict[str, int]:
    """Cumulative ethtool -S counters: the saved ones plus this replay's (ports as p0_NAME)."""
    total = dict(saved or {})
    flat = dict(report["ethtool"])
    for port, counters in report["ports"].items():
        flat.update({f"p{port}_{name}": value for name, value in counters.items()})
    flat["perf_events_delivered"] = report["perf_events"]["delivered"]
    flat["perf_events_dropped"] = report["perf_events"]["dropped"]
    for name, value in flat.items():
        total[name] = total.get(name, 0) + value
    return total

# -- the host queue of every passed packet, natively -------------------------------------------------------
# What queue_of does per packet, over a chunk's flat results (runtime/jit/packed.py): for each
# XDP_PASS that did not fault, the packet as the program left it (out, or the input when
# unchanged) is hashed as platform/rss.hash_input and crc32_be say (one 802.1Q/802.1ad tag;
# IPv4 with IHL >= 5, IPv6; the addresses, then the TCP/UDP ports unless an IPv4 fragment),
# the queue is the program's when it selected one within the rings, else the table's entry at
# hash & 127 (queue 0 without a hash).  Per queue it counts packets, bytes and how each was
# chosen (HOW order), and it marks class[q * n + i] = PASS for the per-queue pcaps (emit).
HOW = ("rss", "program", "selected_beyond")
HOW_COLUMNS = ("pkts", "bytes", *HOW)  # the kernel's counts per queue, the report's row keys
NOT_PASSED = 0xFF
_QUEUES_IR = r"""

define void @card_queues(i64 %n, ptr %retvals, ptr %faults, ptr %selected, ptr %in_base, ptr %in_offs,
                         ptr %out_base, ptr %out_offs, ptr %out_lens, i32 %key, ptr %table, ptr %reta,
                         i64 %rings, ptr %queue_of, ptr %counts, ptr %classes) {
entry:
  %has_sel = icmp ne ptr %selected, null
  %has_classes = icmp ne ptr %classes, null
  %hashing = icmp ugt i64 %rings, 1
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %next ]
  %more = icmp ult i64 %i, %n
  br i1 %more, label %body, label %done
body:
  %qp = getelementptr i8, ptr %queue_of, i64 %i
  store i8 -1, ptr %qp, align 1
  %rp = getelementptr i32, ptr %retvals, i64 %i
  %r = load i32, ptr %rp, align 4
  %fp = getelementptr i8, ptr %faults, i64 %i
  %f = load i8, ptr %fp, align 1
  %pass = icmp eq i32 %r, 2
  %clean = icmp eq i8 %f, 0
  %passed = and i1 %pass, %clean
  br i1 %passed, label %sel, label %next
sel:
  br i1 %has_sel, label %sel_load, label %sel_none
sel_load:
  %sp = getelementptr i64, ptr %selected, i64 %i
  %s = load i64, ptr %sp, align 8
  br label %sel_have
sel_none:
  br label %sel_have
sel_have:
  %chosen = phi i64 [ %s, %sel_load ], [ -1, %sel_none ]
  %asked = icmp sge i64 %chosen, 0
  %within = icmp ult i64 %chosen, %rings
  %program = and i1 %asked, %within
  %olp = getelementptr i32, ptr %out_lens, i64 %i
  %ol = load i32, ptr %olp, align 4
  %ol64 = zext i32 %ol to i64
  br i1 %program, label %deliver, label %rss
rss:
  br i1 %hashing, label %hash, label %deliver
hash:
  %pkt = call ptr @output_packet(i64 %i, ptr %in_base, ptr %in_offs, ptr %out_base, ptr %out_offs)
  %h = call i64 @rss_hash(ptr %pkt, i64 %ol64, ptr %table, i32 %key)
  %nohash = icmp eq i64 %h, -1
  %slot = and i64 %h, 127
  %tp = getelementptr i8, ptr %reta, i64 %slot
  %tq = load i8, ptr %tp, align 1
  %tq64 = zext i8 %tq to i64
  %hq = select i1 %nohash, i64 0, i64 %tq64
  br label %deliver
deliver:
  %q = phi i64 [ %chosen, %sel_have ], [ 0, %rss ], [ %hq, %hash ]
  %how_rss = select i1 %asked, i64 4, i64 2
  %how = select i1 %program, i64 3, i64 %how_rss
  %q8 = trunc i64 %q to i8
  store i8 %q8, ptr %qp, align 1
  %row = mul i64 %q, 5
  %cp = getelementptr i64, ptr %counts, i64 %row
  %c = load i64, ptr %cp, align 8
  %c1 = add i64 %c, 1
  store i64 %c1, ptr %cp, align 8
  %bp = getelementptr i64, ptr %cp, i64 1
  %bc = load i64, ptr %bp, align 8
  %bc1 = add i64 %bc, %ol64
  store i64 %bc1, ptr %bp, align 8
  %hp = getelementptr i64, ptr %cp, i64 %how
  %hc = load i64, ptr %hp, align 8
  %hc1 = add i64 %hc, 1
  store i64 %hc1, ptr %hp, align 8
  br i1 %has_classes, label %mark, label %next
mark:
  %at0 = mul i64 %q, %n
  %at = add i64 %at0, %i
  %kp = getelementptr i32, ptr %classes, i64 %at
  store i32 2, ptr %kp, align 4
  br label %next
next:
  %i1 = add i64 %i, 1
  br label %loop
done:
  ret void
}
"""
# the firmware's hash: the shared walk, CRC-32 seeded with the key word;
# crc = (crc << 8) ^ table[(crc >> 24) ^ byte] (platform/rss.crc32_be; the position unused)
_CRC_FOLD = r"""
  %b32 = zext i8 %b to i32
  %top = lshr i32 %h, 24
  %ix = xor i32 %top, %b32
  %ix64 = zext i32 %ix to i64
  %tp = getelementptr i32, ptr %table, i64 %ix64
  %t = load i32, ptr %tp, align 4
  %sh = shl i32 %h, 8
  %h1 = xor i32 %sh, %t
"""
_QUEUES_IR += BE16_IR + OUTPUT_PACKET_IR + flow_walk_ir("rss_hash", "crc") + step_ir("crc", "CRC-32 of count bytes", _CRC_FOLD)
_P, _I64, _I32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint32
_SIGNATURES = {"card_queues": ctypes.CFUNCTYPE(None, _I64, *([_P] * 8), _I32, _P, _P, _I64, _P, _P, _P)}
_kernel: dict[str, Any] = {}


def _native() -> Any:
    """The compiled card_queues (the jit's persistent cache keeps it: later processes only load it)."""
    if not _kernel:
        from ..runtime.jit.cache import ir_functions

        _kernel.update(ir_functions("nfp card queues", _QUEUES_IR, _SIGNATURES))
    return _kernel["card_queues"]
