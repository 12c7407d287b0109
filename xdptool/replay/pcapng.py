"""Read pcapng (draft-ietf-opsawg-pcapng) into a `Capture`.

Blocks understood: Section Header (byte order per section; a new section resets
the interfaces), Interface Description (link type, snaplen, if_tsresol,
if_tsoffset, if_name), Enhanced Packet, Simple Packet and the obsolete Packet
block.  Every other block (name resolution, statistics, custom, ...) is skipped
by its length.  Packets stay where they are in the file buffer.

The reader walks the file block by block and can stop every N packets
(`walk(chunk_packets)`, `take()`): pcap.CaptureStream streams a pcapng that way,
in pieces whose arrays are bounded, as it streams a classic pcap.

Runs of Enhanced and Simple Packet Blocks (nearly all of a capture) are gathered by a native
loop (scan.py's pcapng_walk, ~3 µs a packet in Python otherwise); it stops before any
block it does not take whole, which this walker then handles as it handles every
block, and goes on.  The Python walk alone is the reference the tests hold it to.
"""

from __future__ import annotations

import ctypes
import struct
from array import array
from dataclasses import dataclass
from typing import Iterator

from . import scan
from .pcap import MAX_CAPLEN, Capture, Interface, PcapError
from .scan import ETH_HLEN

SECTION_HEADER = 0x0A0D0D0A
INTERFACE_DESCRIPTION = 0x00000001
OBSOLETE_PACKET = 0x00000002
SIMPLE_PACKET = 0x00000003
ENHANCED_PACKET = 0x00000006
PACKET_BLOCKS = (OBSOLETE_PACKET, SIMPLE_PACKET, ENHANCED_PACKET)
BYTE_ORDER_MAGIC = 0x1A2B3C4D

OPT_END = 0
IF_NAME = 2
IF_TSRESOL = 9
IF_TSOFFSET = 14
DEFAULT_TSRESOL = 6  # microseconds
# fixed-size interface options: code -> the bytes the reader needs (longer is tolerated, as by libpcap)
OPTION_SIZES = {IF_TSRESOL: 1, IF_TSOFFSET: 8}
OPTION_NAMES = {IF_TSRESOL: "if_tsresol", IF_TSOFFSET: "if_tsoffset"}
ENHANCED_PACKET_HEADER = 28  # type, length, interface, timestamp high and low, caplen, orig len
MIN_ENHANCED_PACKET = ENHANCED_PACKET_HEADER + 4  # and the trailing length
NATIVE_BATCH = 65536  # packets per native call when the walk gathers without a chunk limit
U64 = (1 << 64) - 1


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

    def native_row(self) -> tuple[int, ...]:
        """This interface's row of pcapng_walk's table (scan.py): the clock as 64-bit
        integer steps giving what `nanoseconds` gives, rest * 10**9 // units_per_second
        being ((rest * mul) >> shift) // div; units 0 (the walk leaves its packets to
        Python) when units_per_second does not fit 64 bits."""
        units, ns = self.units_per_second, 1_000_000_000
        if units & (units - 1) == 0:  # 2**e (e <= 63): (rest * 10**9) >> e
            clock = (units, ns, units.bit_length() - 1, 1)
        elif units > U64:
            clock = (0, 0, 0, 1)
        elif units <= ns:  # 10**k, k <= 9: rest * 10**(9 - k)
            clock = (units, ns // units, 0, 1)
        else:  # 10**k, 9 < k <= 19: rest // 10**(k - 9)
            clock = (units, 1, 0, units // ns)
        return (*clock, self.offset_seconds & U64, self.public.snaplen, self.index)


class _Reader:
    def __init__(self, path: str, buffer: bytes, native: bool | None = None):
        self.path = path
        self.buffer = buffer
        # gather packet blocks natively (None: when the buffer is large enough to pay for it)
        self.native = len(buffer) >= scan.NATIVE_MIN_BYTES if native is None else native
        self._table: tuple[list[_Iface], int, array] | None = None  # pcapng_walk's, and whose
        self.order = "<"
        self.section_ifaces: list[_Iface] = []
        self.interfaces: list[Interface] = []
        self.offsets, self.lengths, self.origs = array("Q"), array("I"), array("I")
        self.stamps, self.iface_ids = array("Q"), array("I")
        self.cut = self.zero = self.short = 0
        self.nanosecond = False
        self.pos = self.block = 0  # where the walk is: file offset and block number
        self.taken = 0  # packets handed out by take() before the ones gathered now
        self.piece_start = 0  # file offset of the first block after the last take()

    def fail(self, block: int, offset: int, message: str) -> PcapError:
        return PcapError(f"{self.path}: block {block} at offset {offset}: {message}")

    def run(self) -> Capture:
        """The whole file as one Capture."""
        for _ in self.walk():
            pass
        return self.take()

    def prefix(self) -> None:
        """Walk the blocks before the first packet (the section header, the interfaces):
        what a stream knows before its first piece."""
        for _ in self.walk(stop_before_packet=True):
            pass

    def nanosecond_anywhere(self) -> bool:
        """Whether an interface of the file, also one declared further on than the walk has
        come, stamps in nanoseconds or finer (a pcap written from the capture keeps them):
        a walk of its own over the rest, parsing only the interface descriptions."""
        if self.nanosecond:
            return True
        probe = _Reader(self.path, self.buffer)
        probe.order, probe.pos, probe.block = self.order, self.pos, self.block
        for _ in probe.walk(packets=False):
            pass
        return probe.nanosecond

    def walk(self, chunk_packets: int = 0, stop_before_packet: bool = False, packets: bool = True) -> Iterator[int]:
        """Walk on from where the last walk stopped, gathering packets (none: `packets`
        False); yield each time `chunk_packets` (0: no limit) are gathered, and once at the
        end of the file."""
        buffer, pos, block = self.buffer, self.pos, self.block
        handlers = {INTERFACE_DESCRIPTION: self.interface}
        if packets:
            handlers.update({ENHANCED_PACKET: self.enhanced_packet, SIMPLE_PACKET: self.simple_packet,
                             OBSOLETE_PACKET: self.obsolete_packet})
        native = scan.native_pcapng_walk() if packets and self.native and not stop_before_packet else None
        while pos < len(buffer):
            if native is not None:
                pos, block = self.gather(native, pos, block, chunk_packets)
                if chunk_packets and len(self.offsets) >= chunk_packets:
                    self.pos, self.block = pos, block
                    yield pos
                    continue
                if pos >= len(buffer):
                    break
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
            if stop_before_packet and kind in PACKET_BLOCKS:
                break
            handler = handlers.get(kind)
            if handler is not None:
                handler(block, pos, length)
            pos += length
            block += 1
            if chunk_packets and len(self.offsets) >= chunk_packets:
                self.pos, self.block = pos, block
                yield pos
        self.pos, self.block = pos, block
        yield pos

    def gather(self, native, pos: int, block: int, chunk_packets: int) -> tuple[int, int]:
        """The Enhanced Packet Blocks from `pos` on, natively, until one it leaves to the
        Python walk, the end or `chunk_packets` gathered: (where it stopped, block number)."""
        buffer = self.buffer
        table = self._iface_table()
        big_endian = int(self.order == ">")
        state = (ctypes.c_int64 * 5)()
        base, pin = scan.buffer_address(buffer)
        try:
            while True:
                room = max(1, chunk_packets - len(self.offsets)) if chunk_packets else NATIVE_BATCH
                cap = min(room, (len(buffer) - pos) // MIN_ENHANCED_PACKET + 1)
                arrays = [array("Q", [0]) * cap, array("I", [0]) * cap, array("I", [0]) * cap,
                          array("Q", [0]) * cap, array("I", [0]) * cap]
                count = native(base, len(buffer), pos, big_endian, table.buffer_info()[0],
                               len(table) // scan.PCAPNG_IFACE_FIELDS, MAX_CAPLEN,
                               *(part.buffer_info()[0] for part in arrays), cap, state)
                if count:
                    for part in arrays:
                        del part[count:]
                    self._append(*arrays)
                    self.cut, self.zero, self.short = self.cut + state[1], self.zero + state[2], self.short + state[3]
                pos, block = state[0], block + count
                if count < cap or chunk_packets:
                    return pos, block
        finally:
            del pin  # an exported mmap cannot be closed: pinned only during the calls

    def _append(self, offsets: array, lengths: array, origs: array, stamps: array, iface_ids: array) -> None:
        if not self.offsets:  # the common case: a fresh piece, the gathered arrays become it
            self.offsets, self.lengths, self.origs, self.stamps, self.iface_ids = offsets, lengths, origs, stamps, iface_ids
            return
        self.offsets += offsets
        self.lengths += lengths
        self.origs += origs
        self.stamps += stamps
        self.iface_ids += iface_ids

    def _iface_table(self) -> array:
        """pcapng_walk's table of the section's interfaces (rebuilt when they change)."""
        ifaces = self.section_ifaces
        if self._table is None or self._table[0] is not ifaces or self._table[1] != len(ifaces):
            self._table = (ifaces, len(ifaces), array("Q", [value for iface in ifaces for value in iface.native_row()]))
        return self._table[2]

    def take(self) -> Capture:
        """The packets gathered since the last take, as a Capture (a piece of the file:
        its first_index says where it starts); the reader starts gathering anew."""
        piece = Capture(
            path=self.path,
            format="pcapng",
            buffer=self.buffer,
            offsets=self.offsets,
            lengths=self.lengths,
            orig_lengths=self.origs,
            timestamps=self.stamps,
            interfaces=list(self.interfaces) or [Interface(-1, 0)],
            interface_ids=self.iface_ids,
            cut_count=self.cut,
            zero_count=self.zero,
            short_count=self.short,
            nanosecond=self.nanosecond,
            first_index=self.taken,
        )
        self.taken += len(self.offsets)
        self.offsets, self.lengths, self.origs = array("Q"), array("I"), array("I")
        self.stamps, self.iface_ids = array("Q"), array("I")
        self.cut = self.zero = self.short = 0
        self.piece_start = self.pos
        return piece

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
        index = self.taken + len(self.offsets)
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


def read_pcapng(path: str, buffer: bytes, native: bool | None = None) -> Capture:
    """The whole file (`native`: as _Reader's; the tests pass False for the reference walk)."""
    return _Reader(path, buffer, native).run()


def pcapng_reader(path: str, buffer, native: bool | None = None) -> _Reader:
    """A reader that has walked the blocks before the first packet (pcap.CaptureStream's)."""
    reader = _Reader(path, buffer, native)
    reader.prefix()
    return reader
