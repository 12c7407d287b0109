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

import sys
from itertools import compress
from typing import Any

from ..platform import nfp_driver as drv
from ..platform.rss import INDIRECTION_ENTRIES, KEY, crc32_be, hash_input, indirection_table

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
