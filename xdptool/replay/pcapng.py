"""Read pcapng (draft-ietf-opsawg-pcapng) into a `Capture`.

Blocks understood: Section Header (byte order per section; a new section resets
the interfaces), Interface Description (link type, snaplen, if_tsresol,
if_tsoffset, if_name), Enhanced Packet, Simple Packet and the obsolete Packet
block.  Every other block (name resolution, statistics, custom, ...) is skipped
by its length.  Packets stay where they are in the file buffer.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass

from .pcap import MAX_CAPLEN, Capture, Interface, PcapError
from .scan import ETH_HLEN

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 0x00000001
OBSOLETE_PACKET = 0x00000002
SIMPLE_PACKET = 0x00000003
ENHANCED_PACKET = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_END = 0
IF_NAME = 2
IF_TSRESOL = 9
IF_TSOFFSET = 14
DEFAULT_TSRESOL = 6  # microseconds
# fixed-size interface options: code -> the bytes the reader needs (longer is tolerated, as by libpcap)
OPTION_SIZES = {IF_TSRESOL: 1, IF_TSOFFSET: 8}
OPTION_NAMES = {IF_TSRESOL: "if_tsresol", IF_TSOFFSET: "if_tsoffset"}


@dataclass
class _Iface:
    """An interface as the reader needs it: public description plus the clock."""

    public: Interface
    index: int  # capture-wide interface number
    units_per_second: int
    offset_seconds: int

    def nanoseconds(self, units: int) -> int:
        whole, rest = divmod(units, self.units_per_second)
        return (whole + self.offset_seconds) * 1_000_000_000 + rest * 1_000_000_000 // self.units_per_second


class _Reader:
    def __init__(self, path: str, buffer: bytes):
        self.path = path
        self.buffer = buffer
        self.order = "<"
        self.section_ifaces: list[_Iface] = []
        self.interfaces: list[Interface] = []
        self.offsets, self.lengths, self.origs = array("Q"), array("I"), array("I")
        self.stamps, self.iface_ids = array("Q"), array("I")
        self.cut = self.zero = self.short = 0
        self.nanosecond = False

    def fail(self, block: int, offset: int, message: str) -> PcapError:
        return PcapError(f"{self.path}: block {block} at offset {offset}: {message}")

    def run(self) -> Capture:
        buffer, pos, block = self.buffer, 0, 0
        handlers = {
            INTERFACE_DESCRIPTION: self.interface,
            ENHANCED_PACKET: self.enhanced_packet,
            SIMPLE_PACKET: self.simple_packet,
            OBSOLETE_PACKET: self.obsolete_packet,
        }
        while pos < len(buffer):
            if len(buffer) - pos < 12:
                raise self.fail(block, pos, f"truncated block header ({len(buffer) - pos} of 12 bytes)")
            if struct.unpack_from("<I", buffer, pos)[0] == SECTION_HEADER:
                self.section_header(block, pos)
            kind, length = struct.unpack_from(self.order + "II", buffer, pos)
            if length < 12 or length % 4:
                raise self.fail(block, pos, f"bad block length {length} (must be a multiple of 4, at least 12)")
            if length > len(buffer) - pos:
                raise self.fail(block, pos, f"truncated block (length {length}, {len(buffer) - pos} bytes left)")
            (trailer,) = struct.unpack_from(self.order + "I", buffer, pos + length - 4)
            if trailer != length:
                raise self.fail(block, pos, f"block length {length} does not match its trailing copy {trailer}")
            handler = handlers.get(kind)
            if handler is not None:
                handler(block, pos, length)
            pos += length
            block += 1
        return Capture(
            path=self.path,
            format="pcapng",
            buffer=buffer,
            offsets=self.offsets,
            lengths=self.lengths,
            orig_lengths=self.origs,
            timestamps=self.stamps,
            interfaces=self.interfaces or [Interface(-1, 0)],
            interface_ids=self.iface_ids,
            cut_count=self.cut,
            zero_count=self.zero,
            short_count=self.short,
            nanosecond=self.nanosecond,
        )

    def section_header(self, block: int, pos: int) -> None:
        if len(self.buffer) - pos < 28:
            raise self.fail(block, pos, f"truncated section header ({len(self.buffer) - pos} of 28 bytes)")
        (magic,) = struct.unpack_from("<I", self.buffer, pos + 8)
        if magic == BYTE_ORDER_MAGIC:
            self.order = "<"
        elif magic == int.from_bytes(BYTE_ORDER_MAGIC.to_bytes(4, "little"), "big"):
            self.order = ">"
        else:
            raise self.fail(block, pos, f"bad byte-order magic 0x{magic:08x} in the section header")
        (major,) = struct.unpack_from(self.order + "H", self.buffer, pos + 12)
        if major != 1:
            raise self.fail(block, pos, f"unsupported pcapng version {major}")
        self.section_ifaces = []

    def interface(self, block: int, pos: int, length: int) -> None:
        if length < 20:
            raise self.fail(block, pos, f"interface description block too short ({length} bytes)")
        linktype, _reserved, snaplen = struct.unpack_from(self.order + "HHI", self.buffer, pos + 8)
        options = self.options(block, pos + 16, pos + length - 4)
        for code, size in OPTION_SIZES.items():
            if code in options and len(options[code]) < size:
                raise self.fail(block, pos, f"{OPTION_NAMES[code]} option of {len(options[code])} bytes (needs {size})")
        tsresol = options.get(IF_TSRESOL, bytes([DEFAULT_TSRESOL]))[0]
        exponent = tsresol & 0x7F
        if exponent > 63:
            raise self.fail(block, pos, f"unusable if_tsresol 0x{tsresol:02x}")
        units = (2 if tsresol & 0x80 else 10) ** exponent
        self.nanosecond |= units >= 1_000_000_000
        offset = struct.unpack_from(self.order + "q", options[IF_TSOFFSET])[0] if IF_TSOFFSET in options else 0
        name = options[IF_NAME].rstrip(b"\0").decode("utf-8", "replace") if IF_NAME in options else None
        public = Interface(linktype, snaplen, name)
        self.section_ifaces.append(_Iface(public, len(self.interfaces), units, offset))
        self.interfaces.append(public)

    def options(self, block: int, pos: int, end: int) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        while pos + 4 <= end:
            code, size = struct.unpack_from(self.order + "HH", self.buffer, pos)
            if code == OPT_END:
                break
            if pos + 4 + size > end:
                raise self.fail(block, pos, f"option {code} (length {size}) runs past the end of its block")
            found.setdefault(code, self.buffer[pos + 4 : pos + 4 + size])
            pos += 4 + (size + 3) // 4 * 4
        return found

    def iface(self, block: int, pos: int, number: int) -> _Iface:
        if number >= len(self.section_ifaces):
            raise self.fail(block, pos, f"packet on interface {number}, but the section declares {len(self.section_ifaces)}")
        return self.section_ifaces[number]

    def enhanced_packet(self, block: int, pos: int, length: int) -> None:
        if length < 32:
            raise self.fail(block, pos, f"enhanced packet block too short ({length} bytes)")
        number, high, low, caplen, orig = struct.unpack_from(self.order + "IIIII", self.buffer, pos + 8)
        iface = self.iface(block, pos, number)
        self.add(block, pos, length, 28, iface, caplen, orig, iface.nanoseconds(high << 32 | low))

    def obsolete_packet(self, block: int, pos: int, length: int) -> None:
        if length < 32:
            raise self.fail(block, pos, f"packet block too short ({length} bytes)")
        number, _drops, high, low, caplen, orig = struct.unpack_from(self.order + "HHIIII", self.buffer, pos + 8)
        iface = self.iface(block, pos, number)
        self.add(block, pos, length, 28, iface, caplen, orig, iface.nanoseconds(high << 32 | low))

    def simple_packet(self, block: int, pos: int, length: int) -> None:
        if length < 16:
            raise self.fail(block, pos, f"simple packet block too short ({length} bytes)")
        (orig,) = struct.unpack_from(self.order + "I", self.buffer, pos + 8)
        iface = self.iface(block, pos, 0)
        snaplen = iface.public.snaplen or orig  # the SPB's caplen is min(len, snaplen, room)
        caplen = min(orig, snaplen, length - 16)
        self.add(block, pos, length, 12, iface, caplen, orig, 0, check_snaplen=False)

    def add(self, block, pos, length, header, iface, caplen, orig, stamp, check_snaplen=True) -> None:
        index = len(self.offsets)
        if caplen > MAX_CAPLEN:
            raise self.fail(block, pos, f"packet {index}: caplen {caplen} is over the 256 KiB limit ({MAX_CAPLEN})")
        snaplen = iface.public.snaplen
        if check_snaplen and snaplen and caplen > snaplen:
            raise self.fail(block, pos, f"packet {index}: caplen {caplen} > snaplen {snaplen}")
        if caplen > length - header - 4:
            raise self.fail(block, pos, f"packet {index}: caplen {caplen} runs past the end of its block")
        if not 0 <= stamp < 1 << 64:
            raise self.fail(block, pos, f"packet {index}: timestamp out of range (if_tsoffset?)")
        self.offsets.append(pos + header)
        self.lengths.append(caplen)
        self.origs.append(orig)
        self.stamps.append(stamp)
        self.iface_ids.append(iface.index)
        self.cut += caplen < orig
        self.zero += caplen == 0
        self.short += caplen < ETH_HLEN


def read_pcapng(path: str, buffer: bytes) -> Capture:
    return _Reader(path, buffer).run()
