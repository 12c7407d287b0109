"""A replay on the emulated card: the card's datapath after the program, as a sink of the replay driver.

Each chunk's results go through nfp/datapath.py (verdict counters by the driver's ethtool
names, XDP_TX out the ingress port, XDP_PASS to a host queue by the program's selection
or the firmware's RSS) and each perf event through the firmware's control message to the
driver's decoder (nfp/cmsg.py).  On request it writes what each host queue received
(`rxq_N.pcap` beside `--out-dir`'s per-verdict files, which stay as they are: pass.pcap
is everything the host received) and the events as JSON lines.  The summary gets
`card`; a replay on the card's state directory adds its counters to the card's
(`xdptool maps stats`).
"""

from __future__ import annotations

import json
from itertools import compress
from pathlib import Path
from typing import Any, TextIO

from ..errors import XdpError
from ..files import AtomicFile, check_output
from ..nfp.cmsg import Event, open_channel
from ..nfp.datapath import CONTROL_CPU, MASKS, NOT_PASSED, Datapath, small_values
from ..platform.nfp_driver import BPF_F_CURRENT_CPU, VERDICT_STATS
from .outputs import RECORD_HEADER
from .pcap import PcapWriter

PASS_CODE = 2
PASSED = bytes(0 if q == NOT_PASSED else 1 for q in range(256))  # queue_of byte -> passed (a mask)
CONTROL_QUEUE = "control vNIC"  # perf events arrive as control messages, not on a data queue


def queue_file(queue: int) -> str:
    return f"rxq_{queue}.pcap"


class CardSink:
    """The card's datapath over a replay's chunks; summary["card"] at close."""

    def __init__(self, store, stream, rings: int = 1, per_queue_dir: str | None = None, events_path: str | None = None,
                 jsonl: TextIO | None = None, inputs=(), force: bool = False, outputs=(), state_dir: str | None = None):
        self.datapath = Datapath(rings)
        self.driver = open_channel(store)
        self.map_ids = {name: i for i, name in enumerate(store)}
        self.stream, self.jsonl, self.state_dir = stream, jsonl, state_dir
        self.staged: dict[str, AtomicFile] = {}
        self.queue_paths: list[Path] = []
        self.events_path = events_path
        self.writers: dict[int, PcapWriter] = {}
        self.events_file = None
        try:
            if per_queue_dir is not None:
                directory = Path(per_queue_dir)
                paths = [directory / queue_file(q) for q in range(rings)]
                for path in paths:
                    check_output(path, "pcap", [stream.path, *inputs], force, [*outputs, events_path])
                directory.mkdir(parents=True, exist_ok=True)
                options = {"linktype": stream.linktype if stream.linktype >= 0 else 1, "nanosecond": stream.nanosecond}
                self.queue_paths = paths
                for q, path in enumerate(paths):
                    self.staged[str(path)] = AtomicFile(path)
                    self.writers[q] = PcapWriter(self.staged[str(path)].file, **options)
            if events_path is not None:
                check_output(events_path, "json", [stream.path, *inputs], force, outputs)
                self.staged[events_path] = AtomicFile(events_path, "w")
                self.events_file = self.staged[events_path].file
        except OSError as exc:
            self.discard()
            raise XdpError(f"{per_queue_dir or events_path}: cannot write: {exc.strerror}") from None
        except BaseException:
            self.discard()
            raise
        self.event_counts: dict[str, int] = {}

    # -- per chunk ----------------------------------------------------------------------------------------
    def add(self, chunk) -> None:
        retvals, faults = chunk.retvals, chunk.faults
        piece = chunk.capture
        self.datapath.received(len(chunk), piece.bytes_captured() if piece is not None else sum(chunk.out_lengths))
        self.datapath.count_retvals(retvals, chunk.out_lengths, faults)
        if chunk.packed is not None:
            self._deliver_native(chunk)
        else:
            self._deliver_each(chunk)
        events = getattr(chunk.packed, "events", None) or {}
        lines = [self._event(chunk.index(i), event) for i in sorted(events) for event in events[i]
                 if event.get("type") == "perf"]
        lines = [line for line in lines if line is not None]
        if lines and self.events_file is not None:
            self.events_file.write("".join(json.dumps(line) + "\n" for line in lines))
        if lines and self.jsonl is not None:
            self.jsonl.write("".join(json.dumps({"perf_event": line}) + "\n" for line in lines))

    def _deliver_native(self, chunk) -> None:
        """Host queues, their counters and the per-queue pcaps of a chunk with flat results, without a
        Python step per packet (nfp/datapath.py card_queues; the records laid out by kernels.emit)."""
        piece, count = chunk.capture, len(chunk)
        bulk = bool(self.writers) and piece is not None and chunk.indices is None
        queue_of, classes = self.datapath.deliver_packed(chunk.packed, count, per_queue_classes=bulk)
        if not self.writers or not count:
            return
        if bulk:
            self._write_queues(chunk, classes)
            return
        for i in compress(range(count), queue_of.translate(PASSED)):
            self._write(chunk, i, queue_of[i], chunk.output(i))

    def _write_queues(self, chunk, classes) -> None:
        """Each host queue's records of the chunk, laid out natively (as OutDirSink._add_bulk)."""
        import ctypes

        from .kernels import address, native, pinned

        packed, piece, count = chunk.packed, chunk.capture, len(chunk)
        emit: Any = native()["emit"]
        records = bytearray(sum(packed.out_lengths) + RECORD_HEADER * count)
        dst, _pin_dst = pinned(records)
        in_base, _pin_in = pinned(piece.buffer)
        out_base, _pin_out = pinned(packed.out)
        no_faults = bytes(count)
        state = (ctypes.c_int64 * 3)()
        frac_div = 1 if self.stream.nanosecond else 1000
        width = 4 * count
        base = address(classes)
        for queue, writer in self.writers.items():
            state[2] = 0
            size = emit(count, base + queue * width, address(no_faults), PASS_CODE, in_base,
                        address(packed.source_offsets), out_base, address(packed.out_offsets),
                        address(packed.out_lengths), address(piece.timestamps), address(piece.lengths),
                        address(piece.orig_lengths), frac_div, dst, state)
            if state[2]:
                raise XdpError(f"{self.staged_path(queue)}: packet {chunk.index(state[1])}: timestamp "
                               f"{piece.timestamps[state[1]]} ns is outside what a classic pcap record holds")
            if state[0]:
                writer.write_records(memoryview(records)[:size], state[0])

    def _deliver_each(self, chunk) -> None:
        """Packet by packet, for engines that return RunResults."""
        for i in self._passed(chunk):
            data = chunk.output(i)
            queue, how = self.datapath.queue_of(data, chunk.queues.get(i))
            self.datapath.deliver(queue, how, len(data))
            if queue in self.writers:
                self._write(chunk, i, queue, data)

    def _write(self, chunk, i: int, queue: int, data: bytes) -> None:
        piece = chunk.capture
        at = i if piece is not None else chunk.index(i)
        capture = piece if piece is not None else self.stream
        orig = len(data) + max(0, capture.orig_lengths[at] - capture.lengths[at])
        self.writers[queue].write(data, capture.timestamps[at], orig)

    def _passed(self, chunk):
        """Indices of the chunk's XDP_PASS packets (those that reach RSS and a host queue)."""
        low = small_values(chunk.retvals)
        if low is None or chunk.faults:
            return [i for i, r in enumerate(chunk.retvals) if r == PASS_CODE and i not in chunk.faults]
        return list(compress(range(len(low)), low.translate(MASKS[PASS_CODE])))

    def _event(self, index: int, event: dict) -> dict | None:
        """The event as the firmware sends it and the driver decodes it; None if the driver drops it."""
        data = bytes.fromhex(event["data"])
        size = event.get("size", len(data))
        message = Event(BPF_F_CURRENT_CPU, self.map_ids.get(event["map"], 0xFFFFFFFF), data[:size], data[size:])
        decoded = self.driver.event_output(message.encode())
        self.datapath.event(decoded)
        if decoded is None:
            return None
        cpu = CONTROL_CPU if decoded["cpu_id"] == BPF_F_CURRENT_CPU else decoded["cpu_id"]
        return {"index": index, "map": decoded["map"], "cpu": cpu, "queue": CONTROL_QUEUE, "size": decoded["size"],
                "pkt_size": decoded["pkt_size"], "bytes": decoded["data"]}

    # -- end ------------------------------------------------------------------------------------------------
    def close(self, summary: dict[str, Any], maps: dict) -> None:
        self.datapath.ports[self.datapath.port]["rx_undersize_pkts"] += summary["short_packets"].get("not_run", 0)
        report = self.datapath.report()
        if self.driver.log:
            report["driver_log"] = list(self.driver.log)
        if self.events_path is not None:
            report["perf_events"]["file"] = self.events_path
        summary["card"] = report
        for writer in self.writers.values():
            writer.close()
        for staged in self.staged.values():
            staged.commit()
        if self.state_dir is not None:
            from ..nfp import state
            from ..nfp.datapath import merge_stats

            state.save_stats(self.state_dir, merge_stats(state.load_stats(self.state_dir), report))

    def discard(self) -> None:
        for staged in self.staged.values():
            staged.discard()

    def staged_path(self, queue: int) -> Path:
        return self.queue_paths[queue]

    @property
    def files(self) -> dict[str, int]:
        """Output pcap path -> packets written (the events file is named in summary["card"])."""
        return {str(self.staged_path(q)): writer.count for q, writer in self.writers.items()}


def card_lines(card: dict | None) -> list[str]:
    """The card's datapath in text, after replay's summary."""
    if not card:
        return []
    rss = card["rss"]
    lines = [f"card datapath: port 0, {rss['rings']} host queue{'s' * (rss['rings'] > 1)}, RSS {rss['hash']} "
             f"(key word {rss['key_word']})"]
    for verdict, row in card["verdicts"].items():
        lines.append(f"  {verdict:<12} {row['packets']:>8} packets {row['bytes']:>10} bytes   "
                     f"(ethtool {VERDICT_STATS[verdict]}_pkts)")
    for port, counters in card["ports"].items():
        lines.append(f"  port {port}: in {counters['rx_frames_received_ok']} frames ({counters['rx_octets']} octets), "
                     f"out {counters['tx_frames_transmitted_ok']} frames ({counters['tx_octets']} octets, XDP_TX)"
                     + (f", {counters['rx_undersize_pkts']} runts" if counters["rx_undersize_pkts"] else ""))
    for queue, row in card["queues"].items():
        how = ", ".join(f"{row[k]} {label}" for k, label in (("rss", "by RSS"), ("program", "selected by the program"),
                                                              ("selected_beyond", "selected past the rings, RSS"))
                        if row[k])
        lines.append(f"  host queue {queue}: {row['pkts']} packets, {row['bytes']} bytes" + (f" ({how})" if how else ""))
    events = card["perf_events"]
    if events["delivered"] or events["dropped"]:
        lines.append(f"  perf events: {events['delivered']} delivered to the host ({events['bytes']} bytes), "
                     f"{events['dropped']} dropped by the driver"
                     + (f"; written to {events['file']}" if events.get("file") else ""))
    lines.extend(f"  nfp driver: {line}" for line in card.get("driver_log", []))
    return lines


def queue_estimate_lines(estimate: dict) -> list[str]:
    """The card estimate's host queues in text (nfp/card.py queue_rates), when there are several."""
    queues = estimate.get("host_queues") or {}
    if queues.get("count", 0) < 2:
        return []
    pcie = f"; PCIe carries {queues['pcie_mpps']} Mpps of this mix" if queues.get("pcie_mpps") else ""
    lines = [f"  host queues  {queues['count']}, served by every worker thread: together {queues['delivered_mpps']} "
             f"Mpps of the card's {queues['card_mpps']}{pcie}"]
    lines.extend(f"    queue {q}: {row['packets'] / estimate['packets']:.1%} of the packets, {row['mpps']} Mpps ({row['gbps']} Gb/s)"
                 for q, row in queues["queues"].items())
    return lines
