"""Write pcapng (draft-ietf-opsawg-pcapng): one file with every packet before and after
the program, as `xdpdump --rx-capture entry,exit` records it.

The file is one section (Section Header Block, `shb_userappl` naming xdptool) with two
interfaces, `PROG@entry` (the packet as the capture holds it) and `PROG@exit` (as the
program left it); each packet is an Enhanced Packet Block on each, in order, carrying
an `opt_comment` with its capture index, verdict, program, receive queue and
redirect target (or fault), and `epb_flags` with its direction where it has one
(inbound at entry and for XDP_PASS, outbound for XDP_TX and XDP_REDIRECT).
Timestamps are the capture's, in nanoseconds (`if_tsresol` 9).  Wireshark shows the
comments as `frame.comment` (`tshark -Y 'frame.comment contains "XDP_DROP"'`).

Layout (all little-endian, every block and option padded to 32 bits):
  block   = type u32, total length u32, body, total length u32
  option  = code u16, length u16, value, padding; the list ends with code 0 length 0
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import IO, Any, Iterable

from ..errors import XdpError
from ..files import AtomicFile, check_output

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 0x00000001
ENHANCED_PACKET = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
LINKTYPE_ETHERNET = 1

OPT_ENDOFOPT, OPT_COMMENT = 0, 1
SHB_USERAPPL = 4
IF_NAME, IF_DESCRIPTION, IF_TSRESOL = 2, 3, 9
EPB_FLAGS = 2
INBOUND, OUTBOUND = 0b01, 0b10  # epb_flags bits 0-1: packet direction
NANOSECONDS = 9  # if_tsresol: 10^-9 s

# verdict -> direction of the packet after the program (none for a dropped one)
EXIT_DIRECTION = {"XDP_PASS": INBOUND, "XDP_TX": OUTBOUND, "XDP_REDIRECT": OUTBOUND}


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def options(items: Iterable[tuple[int, bytes]]) -> bytes:
    """An option list: each (code, value) padded, then opt_endofopt."""
    out = b"".join(struct.pack("<HH", code, len(value)) + _pad(value) for code, value in items)
    return out + struct.pack("<HH", OPT_ENDOFOPT, 0) if out else b""


def block(kind: int, body: bytes) -> bytes:
    total = 12 + len(body)
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)


class PcapngWriter:
    """Blocks to a binary file: a section header at once, then interfaces and packets."""

    def __init__(self, file: IO[bytes], application: str):
        self.file = file
        self.interfaces = 0
        self.count = 0  # enhanced packet blocks written
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1)  # version 1.0, section length unknown
        self.file.write(block(SECTION_HEADER, body + options([(SHB_USERAPPL, application.encode())])))

    def interface(self, name: str, description: str, linktype: int = LINKTYPE_ETHERNET) -> int:
        """Add an interface (snaplen 0: no limit; nanosecond timestamps); its id."""
        opts = options([(IF_NAME, name.encode()), (IF_DESCRIPTION, description.encode()),
                        (IF_TSRESOL, bytes([NANOSECONDS]))])
        self.file.write(block(INTERFACE_DESCRIPTION, struct.pack("<HHI", linktype, 0, 0) + opts))
        self.interfaces += 1
        return self.interfaces - 1

    def packet(self, interface: int, timestamp_ns: int, data: bytes, original_length: int,
               comment: str | None = None, flags: int | None = None) -> None:
        items = []
        if comment:
            items.append((OPT_COMMENT, comment.encode()))
        if flags is not None:
            items.append((EPB_FLAGS, struct.pack("<I", flags)))
        head = struct.pack("<IIIII", interface, timestamp_ns >> 32, timestamp_ns & 0xFFFFFFFF, len(data),
                           max(original_length, len(data)))
        self.file.write(block(ENHANCED_PACKET, head + _pad(bytes(data)) + options(items)))
        self.count += 1


def packet_comment(index: int, program: str, verdict: str, queue: int, redirect: dict | None, fault) -> str:
    """What xdpdump would say of the packet: where it is in the capture and what the program did."""
    parts = [f"packet {index}", f"program {program}", f"verdict {verdict}", f"queue {queue}"]
    if redirect:
        parts.append("redirect " + " ".join(f"{k}={v}" for k, v in redirect.items()))
    if fault is not None:
        parts.append(f"fault at insn {fault.insn}: {fault.message}")
    return "; ".join(parts)


class BeforeAfterSink:
    """A replay sink writing one pcapng with every packet at entry and at exit.

    Checked and staged as every output is (xdptool.files): never an input, never through
    a link, an existing file only if it is a pcapng or with force; published at close.
    """

    def __init__(self, path: str | os.PathLike, capture, program: str, queue: int = 0, *,
                 inputs: Iterable[str | os.PathLike | None] = (), force: bool = False,
                 outputs: Iterable[str | os.PathLike | None] = ()):
        from .. import __version__

        self.path = Path(path)
        check_output(self.path, "pcapng", [capture.path, *inputs], force, outputs)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise XdpError(f"{self.path.parent}: cannot create the directory: {exc.strerror}") from None
        self.staged = AtomicFile(self.path)
        self.capture, self.program, self.queue = capture, program, queue
        linktype = capture.linktype if getattr(capture, "linktype", -1) >= 0 else LINKTYPE_ETHERNET
        try:
            self.writer = PcapngWriter(self.staged.file, f"xdptool {__version__}")
            self.entry = self.writer.interface(f"{program}@entry", "each packet as the capture holds it, "
                                               "at the XDP program's entry", linktype)
            self.exit = self.writer.interface(f"{program}@exit", "each packet as the XDP program left it, "
                                              "with its verdict in the comment", linktype)
        except OSError as exc:
            self.staged.discard()
            raise XdpError(f"{self.path}: cannot write: {exc.strerror}") from None

    def add(self, chunk) -> None:
        piece = getattr(chunk, "capture", None)
        queues = getattr(chunk, "queues", None) or {}  # packet -> queue, where it is not the replay's one
        try:
            for i in range(len(chunk)):
                capture, at = (piece, i) if piece is not None else (self.capture, chunk.index(i))
                verdict = chunk.verdict(i)
                comment = packet_comment(chunk.index(i), self.program, verdict, queues.get(i, self.queue),
                                         chunk.redirects.get(i), chunk.faults.get(i))
                stamp, data = capture.timestamps[at], capture.data(at)
                cut = max(0, capture.orig_lengths[at] - capture.lengths[at])  # the wire's bytes the snaplen cut
                self.writer.packet(self.entry, stamp, data, len(data) + cut, comment, INBOUND)
                output = chunk.output(i)
                self.writer.packet(self.exit, stamp, output, len(output) + cut, comment, EXIT_DIRECTION.get(verdict))
        except OSError as exc:
            raise XdpError(f"{self.path}: cannot write: {exc.strerror}") from None

    def close(self, summary: dict[str, Any], maps: dict) -> None:
        try:
            self.staged.file.flush()
        except OSError as exc:
            self.discard()
            raise XdpError(f"{self.path}: cannot write: {exc.strerror}") from None
        self.staged.commit()

    def discard(self) -> None:
        self.staged.discard()

    @property
    def files(self) -> dict[str, int]:
        """Output file path -> packets written (each packet once, at entry and exit)."""
        return {str(self.path): self.writer.count // 2}
