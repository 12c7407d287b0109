"""Where a replay's per-packet results go: output pcaps per verdict, JSON lines, a list.

Each sink takes chunks as the driver produces them and is closed with the final
summary and map state, so a huge capture streams through without being held.
Output pcaps get one write per chunk and file: the records are laid out natively
(kernels.py `emit`) from the engine's flat results into one buffer.
Output pcaps are checked before the replay starts (xdptool.files: never an
input, never through a link, an existing file only if it is a pcap or with
--force) and written under temporary names renamed into place at close: the
files of an earlier run stay whole until this run has finished, and a replay
that fails or is killed leaves them as they were.
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path
from typing import Any, Iterable, TextIO

from ..errors import XdpError
from ..files import AtomicFile, check_output
from .pcap import MAX_SECONDS, PcapError, PcapWriter
from ..runtime.contract import verdict_name
from .results import Chunk, packet_record

# verdict -> output file.  The kernel treats return values outside 0..4 as
# XDP_ABORTED (bpf_warn_invalid_xdp_action, then the aborted path), so do we.
VERDICT_FILES = {
    "XDP_PASS": "pass.pcap",
    "XDP_DROP": "drop.pcap",
    "XDP_TX": "tx.pcap",
    "XDP_REDIRECT": "redirect.pcap",
    "XDP_ABORTED": "aborted.pcap",
}
UNKNOWN_VERDICT_FILE = VERDICT_FILES["XDP_ABORTED"]
VERDICT_CODES = {"XDP_ABORTED": 0, "XDP_DROP": 1, "XDP_PASS": 2, "XDP_TX": 3, "XDP_REDIRECT": 4}  # uapi enum xdp_action
RECORD_HEADER = 16


class OutDirSink:
    """One pcap per verdict holding the packets as the program left them."""

    def __init__(self, directory: str | os.PathLike, capture, inputs: Iterable[str | os.PathLike | None] = (),
                 force: bool = False, outputs: Iterable[str | os.PathLike | None] = ()):
        self.directory = Path(directory)
        names = list(dict.fromkeys(VERDICT_FILES.values()))
        inputs = [capture.path, *inputs]
        for name in names:
            check_output(self.directory / name, "pcap", inputs, force, outputs)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise XdpError(f"{directory}: cannot create the output directory: {exc.strerror}") from None
        linktype = capture.linktype if capture.linktype >= 0 else 1
        options = {"linktype": linktype, "nanosecond": capture.nanosecond}
        self.staged: dict[str, AtomicFile] = {}
        try:
            for name in names:
                self.staged[name] = AtomicFile(self.directory / name)
        except XdpError:
            self.discard()
            raise
        self.writers = {name: PcapWriter(staged.file, **options) for name, staged in self.staged.items()}
        self.capture = capture

    def add(self, chunk: Chunk) -> None:
        try:
            if chunk.packed is not None and chunk.capture is not None and chunk.indices is None:
                self._add_bulk(chunk)
            else:
                self._add_each(chunk)
        except OSError as exc:
            raise XdpError(f"{self.directory}: cannot write: {exc.strerror}") from None

    def _add_bulk(self, chunk: Chunk) -> None:
        """Each file's records of the chunk laid out natively, then written at once."""
        from .kernels import address, native, pinned

        packed, piece, count = chunk.packed, chunk.capture, len(chunk)
        if not count:
            return
        emit = native()["emit"]
        records = bytearray(sum(packed.out_lengths) + RECORD_HEADER * count)
        dst, _pin_dst = pinned(records)
        in_base, _pin_in = pinned(piece.buffer)
        out_base, _pin_out = pinned(packed.out)
        state = (ctypes.c_int64 * 3)()
        frac_div = 1 if self.capture.nanosecond else 1000
        for verdict, code in VERDICT_CODES.items():
            state[2] = 0
            size = emit(count, address(packed.retvals), address(packed.fault_codes), code, in_base,
                        address(packed.source_offsets), out_base, address(packed.out_offsets),
                        address(packed.out_lengths), address(piece.timestamps), address(piece.lengths),
                        address(piece.orig_lengths), frac_div, dst, state)
            if state[2]:
                index = chunk.index(state[1])
                raise PcapError(f"{self.directory / VERDICT_FILES[verdict]}: packet {index}: timestamp "
                                f"{piece.timestamps[state[1]]} ns is outside what a classic pcap record holds "
                                f"(0 to {MAX_SECONDS} s)")
            if state[0]:
                self.writers[VERDICT_FILES[verdict]].write_records(memoryview(records)[:size], state[0])

    def _add_each(self, chunk: Chunk) -> None:
        """Packet by packet (engines without flat results, pieces with packets left out)."""
        piece = chunk.capture
        capture = piece if piece is not None else self.capture
        for i in range(len(chunk)):
            data = chunk.output(i)
            at = i if piece is not None else chunk.index(i)  # without a piece: a whole capture's file index
            # keep the wire length's excess when the input was snaplen-cut
            orig = len(data) + max(0, capture.orig_lengths[at] - capture.lengths[at])
            writer = self.writers[VERDICT_FILES.get(chunk.verdict(i), UNKNOWN_VERDICT_FILE)]
            writer.write(data, capture.timestamps[at], orig)

    def close(self, summary: dict[str, Any], maps: dict) -> None:
        try:
            for writer in self.writers.values():
                writer.close()
        except OSError as exc:
            self.discard()
            raise XdpError(f"{self.directory}: cannot write: {exc.strerror}") from None
        for staged in self.staged.values():
            staged.commit()

    def discard(self) -> None:
        """The replay did not finish: keep the files that were there."""
        for staged in self.staged.values():
            staged.discard()

    @property
    def files(self) -> dict[str, int]:
        """Output file path -> packets written."""
        return {str(self.directory / name): writer.count for name, writer in self.writers.items()}


class JsonLinesSink:
    """One JSON object per packet, then one line {"summary": ..., "maps": ...}."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def add(self, chunk: Chunk) -> None:
        """The chunk's lines joined and written at once; a packet without a fault, a
        redirect, a selected queue, trace lines or events is formatted directly (the same
        text json.dumps gives)."""
        lines = []
        rare = (chunk.faults.keys() | chunk.redirects.keys() | chunk.queues.keys() | chunk.trace.keys()
                | chunk.events.keys())
        retvals, output, index = chunk.retvals, chunk.output, chunk.index
        for i in range(len(chunk)):
            if i in rare:
                lines.append(json.dumps(packet_record(chunk, i)))
            else:
                retval = retvals[i]
                lines.append(f'{{"index": {index(i)}, "verdict": "{verdict_name(retval)}", '
                             f'"retval": {retval}, "data_out": "{output(i).hex()}"}}')
        lines.append("")
        self.stream.write("\n".join(lines))

    def close(self, summary: dict[str, Any], maps: dict) -> None:
        self.stream.write(json.dumps({"summary": summary, "maps": maps}) + "\n")
        self.stream.flush()


class RecordsSink:
    """Keeps every packet's record (for the one-document --json output)."""

    def __init__(self):
        self.records: list[dict[str, Any]] = []

    def add(self, chunk: Chunk) -> None:
        self.records.extend(packet_record(chunk, i) for i in range(len(chunk)))

    def close(self, summary: dict[str, Any], maps: dict) -> None:
        pass
