"""Where a replay's per-packet results go: output pcaps per verdict, JSON lines, a list.

Each sink takes chunks as the driver produces them and is closed with the final
summary and map state, so a huge capture streams through without being held.
Output pcaps are checked before the replay starts (xdptool.files: never an
input, never through a link, an existing file only if it is a pcap or with
--force) and written under temporary names renamed into place at close: the
files of an earlier run stay whole until this run has finished, and a replay
that fails or is killed leaves them as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, TextIO

from ..errors import XdpError
from ..files import AtomicFile, check_output
from .pcap import PcapWriter
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
        stamps, origs, lengths = self.capture.timestamps, self.capture.orig_lengths, self.capture.lengths
        for i in range(len(chunk)):
            index = chunk.index(i)
            data = chunk.output(i)
            # keep the wire length's excess when the input was snaplen-cut
            orig = len(data) + max(0, origs[index] - lengths[index])
            writer = self.writers[VERDICT_FILES.get(chunk.verdict(i), UNKNOWN_VERDICT_FILE)]
            try:
                writer.write(data, stamps[index], orig)
            except OSError as exc:
                raise XdpError(f"{self.directory}: cannot write: {exc.strerror}") from None

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
        write = self.stream.write
        for i in range(len(chunk)):
            write(json.dumps(packet_record(chunk, i)) + "\n")

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
