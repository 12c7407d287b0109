"""Capture files: read classic pcap and pcapng into one flat `Capture`, write pcap.

A `Capture` keeps the whole file in one bytes buffer and says where each packet
is in it (offsets, lengths, timestamps in flat arrays) — the form the compiled
engine's bulk API consumes without copying a packet.  Formats (draft-ietf-
opsawg-pcap / RFC 9669's sibling draft-ietf-opsawg-pcapng, and libpcap's
sf-pcap.c for the checks): classic pcap in both byte orders with microsecond
(0xa1b2c3d4) or nanosecond (0xa1b23c4d) timestamps; pcapng in `pcapng.py`.

Bad files raise `PcapError` naming the file and the record; packets cut by the
snaplen (caplen < len) are warnings, zero-length packets are read and flagged.
Record indices in messages are 0-based, like the `index` in replay output.
"""


import mmap
import os
import struct
import time
from array import array
from typing import TYPE_CHECKING, BinaryIO, NamedTuple, Generator, Iterable, Iterator

from ..errors import XdpError
from . import scan

if TYPE_CHECKING:
    from .pcapng import _Reader as PcapngReader

MAX_CAPLEN = 256 * 1024  # larger records are corrupt, not jumbo frames (libpcap's limit for DLT_EN10MB)
LINKTYPE_ETHERNET = 1
CLASSIC_HEADER = 24
WARNINGS_LISTED = 5  # individually named records per warning class
MAX_SECONDS = (1 << 32) - 1  # a record's ts_sec is a u32

# magic as read little-endian -> (big endian file, nanosecond timestamps)
CLASSIC_MAGICS = {
    0xA1B2C3D4: (False, False),
    0xD4C3B2A1: (True, False),
    0xA1B23C4D: (False, True),
    0x4D3CB2A1: (True, True),
}
PCAPNG_MAGIC = 0x0A0D0D0A  # section header block type: the same in both byte orders


class PcapError(XdpError):
    """A capture file that cannot be read; the message names the file and the record."""


def linktype_problem(path: str, linktype: int) -> str | None:
    """Why a capture of this link type (-1: mixed) cannot be replayed through XDP, or None."""
    if linktype == LINKTYPE_ETHERNET:
        return None
    found = "mixed link types" if linktype < 0 else f"link type {linktype}"
    return f"{path}: {found}; XDP replays need Ethernet captures (link type 1, DLT_EN10MB)"


class Interface(NamedTuple):
    """Where packets were captured: link type, snaplen, timestamp resolution."""

    linktype: int
    snaplen: int
    name: str | None = None


class Packet(NamedTuple):
    """One captured frame: its bytes, original length, time and interface."""

    index: int
    data: bytes
    orig_len: int
    timestamp_ns: int
    interface: int = 0


class Capture:
    """A whole capture: one buffer and flat arrays saying where each packet lives.  (A plain
    class: read_capture fills in read_seconds, and a dataclass compiles its methods at every start.)"""

    __slots__ = ("path", "format", "buffer", "offsets", "lengths", "orig_lengths", "timestamps", "interfaces",
                 "interface_ids", "cut_count", "zero_count", "short_count", "total_bytes", "nanosecond", "warnings",
                 "source_index", "read_seconds", "first_index")

    def __init__(self, path: str, format: str, buffer: bytes | mmap.mmap, offsets: array, lengths: array,
                 orig_lengths: array, timestamps: array, interfaces: list[Interface], interface_ids: array | None = None,
                 cut_count: int = 0, zero_count: int = 0, short_count: int = 0, total_bytes: int | None = None,
                 nanosecond: bool = False, warnings: list[str] | None = None, source_index: array | None = None,
                 first_index: int = 0) -> None:
        self.path = path
        self.format = format  # "pcap" or "pcapng"
        self.buffer = buffer
        self.offsets = offsets  # 'Q'
        self.lengths = lengths  # 'I' captured length
        self.orig_lengths = orig_lengths  # 'I' length on the wire
        self.timestamps = timestamps  # 'Q' ns since the epoch
        self.interfaces = interfaces
        self.interface_ids = interface_ids  # 'I' per packet (pcapng); None: all interface 0
        self.cut_count = cut_count  # packets shorter than on the wire (snaplen)
        self.zero_count = zero_count  # packets with no bytes at all
        self.short_count = short_count  # packets under 14 bytes (no Ethernet header; the kernel's test run refuses them)
        self.total_bytes = total_bytes  # sum of `lengths`, when the reader counted it
        self.nanosecond = nanosecond  # the file's timestamps have ns resolution
        self.warnings: list[str] = [] if warnings is None else warnings
        self.source_index = source_index  # 'Q' index in the file of each packet, when a subset
        self.read_seconds: float | None = None  # how long read_capture took
        self.first_index = first_index  # index in the file of packet 0 (a piece of a streamed capture)

    def __len__(self) -> int:
        return len(self.offsets)

    @property
    def linktype(self) -> int:
        """The link type of every packet; -1 when interfaces disagree."""
        types = {iface.linktype for iface in self.interfaces}
        return types.pop() if len(types) == 1 else -1

    def bytes_captured(self) -> int:
        """Sum of the captured lengths (counted while reading where possible)."""
        return sum(self.lengths) if self.total_bytes is None else self.total_bytes

    def data(self, index: int) -> bytes:
        start = self.offsets[index]
        return self.buffer[start : start + self.lengths[index]]

    def packet(self, index: int) -> Packet:
        iface = self.interface_ids[index] if self.interface_ids is not None else 0
        return Packet(index, self.data(index), self.orig_lengths[index], self.timestamps[index], iface)

    def __iter__(self) -> Iterator[Packet]:
        return (self.packet(i) for i in range(len(self)))

    def without_short(self) -> "Capture":
        """The packets of at least 14 bytes, each remembering its index in the file."""
        if not self.short_count:
            return self
        keep = [i for i, length in enumerate(self.lengths) if length >= scan.ETH_HLEN]
        source = self.source_index
        first = self.first_index

        def pick(values: array | None) -> array | None:
            return None if values is None else array(values.typecode, (values[i] for i in keep))

        return Capture(
            path=self.path,
            format=self.format,
            buffer=self.buffer,
            offsets=pick(self.offsets),
            lengths=pick(self.lengths),
            orig_lengths=pick(self.orig_lengths),
            timestamps=pick(self.timestamps),
            interfaces=self.interfaces,
            interface_ids=pick(self.interface_ids),
            cut_count=sum(1 for i in keep if self.lengths[i] < self.orig_lengths[i]),
            zero_count=0,
            short_count=0,
            nanosecond=self.nanosecond,
            warnings=self.warnings,
            source_index=array("Q", (first + i for i in keep)) if source is None else pick(source),
            first_index=first,
        )

    def piece(self, start: int, stop: int) -> "Capture":
        """Packets start..stop-1 (same buffer), as a streamed chunk of this capture."""

        def cut(values: array | None) -> array | None:
            return None if values is None else values[start:stop]

        lengths = self.lengths[start:stop]
        return Capture(
            path=self.path, format=self.format, buffer=self.buffer, offsets=self.offsets[start:stop], lengths=lengths,
            orig_lengths=self.orig_lengths[start:stop], timestamps=self.timestamps[start:stop],
            interfaces=self.interfaces, interface_ids=cut(self.interface_ids),
            short_count=sum(1 for n in lengths if n < scan.ETH_HLEN) if self.short_count else 0,
            total_bytes=sum(lengths), nanosecond=self.nanosecond, source_index=cut(self.source_index),
            first_index=self.first_index + start,
        )

    def is_cut(self, index: int) -> bool:
        return self.lengths[index] < self.orig_lengths[index]

    def short_indices(self, limit: int = WARNINGS_LISTED) -> list[int]:
        """The first `limit` packets under 14 bytes (a scan only when there are some)."""
        if not self.short_count:
            return []
        return _first_indices(lambda i: self.lengths[i] < scan.ETH_HLEN, len(self), limit)

    def flag_records(self) -> None:
        """Fill `warnings` with one line per class of odd record (cut, zero-length)."""
        self.warnings = []
        if self.cut_count:
            listed = _first_indices(lambda i: self.lengths[i] < self.orig_lengths[i], len(self))
            self.warnings.append(
                f"{self.path}: {_count(self.cut_count, 'packet')} cut short by the snaplen (caplen < len): "
                f"{_records(listed, self.cut_count)}"
            )
        if self.zero_count:
            listed = _first_indices(lambda i: self.lengths[i] == 0, len(self))
            self.warnings.append(
                f"{self.path}: {_count(self.zero_count, 'zero-length packet')}: {_records(listed, self.zero_count)}"
            )


def read_capture(path: str | os.PathLike) -> Capture:
    """Read a pcap or pcapng file whole; raise PcapError on anything malformed."""
    path = os.fspath(path)
    started = time.perf_counter()
    buffer = _read_file(path)
    if len(buffer) < 4:
        raise PcapError(f"{path}: truncated global header ({len(buffer)} of {CLASSIC_HEADER} bytes)")
    (magic,) = struct.unpack_from("<I", buffer)
    if magic == PCAPNG_MAGIC:
        from .pcapng import read_pcapng

        capture = read_pcapng(path, buffer)
    elif magic in CLASSIC_MAGICS:
        capture = _read_classic(path, buffer, *CLASSIC_MAGICS[magic])
    else:
        raise PcapError(f"{path}: not a pcap or pcapng file (magic 0x{magic:08x})")
    capture.flag_records()
    capture.read_seconds = time.perf_counter() - started
    return capture


CHUNK_PACKETS = 65536  # packets per streamed chunk (and per engine call)
CHUNK_BYTES = 8 << 20  # file bytes one chunk spans at most (a record larger than what is left starts the next)


RECORD_SETS = 3  # record array sets a stream reuses: the caller's piece, the one read ahead, one let go
FIRST_PIECE_SHARE = 16  # a ramped stream's first piece: 1/16 of chunk_packets (piece_sizes)


def piece_sizes(chunk_packets: int, ramp: bool) -> Iterator[int]:
    """Packets in each streamed piece of a classic capture: chunk_packets, or with `ramp` a
    small first piece and then each twice the last, up to chunk_packets.  A replay that
    reads ahead (driver.ReadAhead) runs nothing until its first piece is walked, and each
    later walk overlaps the run of the piece before: a small first piece starts the run
    sooner, and doubling keeps each walk shorter than the run it hides behind."""
    size = max(1, chunk_packets // FIRST_PIECE_SHARE) if ramp else chunk_packets
    while True:
        yield size
        size = min(chunk_packets, size * 2)


class CaptureStream:
    """A capture read in bounded chunks: `chunks()` yields `Capture` pieces of at most
    `chunk_packets` packets (each knows its `first_index` in the file), so memory does
    not grow with the capture.  What the whole file holds (counts of odd records, the
    first few of each, bytes, warnings) is known once the chunks have been read.

    Both formats are mapped, never copied: classic pcap is walked CHUNK_BYTES at a time by
    the native walk (scan.py), pcapng block by block by pcapng.py, chunk_packets packets
    at a time."""

    def __init__(self, path: str | os.PathLike, chunk_packets: int = CHUNK_PACKETS, chunk_bytes: int = CHUNK_BYTES,
                 capture: Capture | None = None):
        self.path = os.fspath(path) if capture is None else capture.path
        self.chunk_packets = max(1, chunk_packets)
        self.chunk_bytes = max(chunk_bytes, MAX_CAPLEN + scan.RECORD_HEADER)
        self.packets = self.cut_count = self.zero_count = self.short_count = 0
        self.bytes_captured = 0
        self.first: dict[str, list[int]] = {"cut": [], "zero": [], "short": []}
        self.read_seconds = 0.0
        self._pcapng: PcapngReader | None = None  # a pcapng file's block walker
        self._nanosecond: bool | None = None  # None: not known yet (a pcapng's, looked up when asked)
        self._whole = capture
        self._file = None
        self._map: mmap.mmap | None = None
        self._consumed = 0  # file bytes the chunks so far covered
        self.size = 0  # of the file, once open
        if capture is None:
            started = time.perf_counter()
            self._open()
            self.read_seconds += time.perf_counter() - started
        else:
            self._describe_whole(capture)

    @classmethod
    def of(cls, capture: Capture, chunk_packets: int = CHUNK_PACKETS) -> "CaptureStream":
        """A capture already in memory, handed out in pieces like a streamed one."""
        return cls(capture.path, chunk_packets, capture=capture)

    def _open(self) -> None:
        path = self.path
        try:
            self._file = open(path, "rb")
            self.size = os.fstat(self._file.fileno()).st_size
        except FileNotFoundError:
            raise PcapError(f"{path}: no such file") from None
        except IsADirectoryError:
            raise PcapError(f"{path}: is a directory, not a capture file") from None
        except OSError as exc:
            raise PcapError(f"{path}: cannot read: {exc.strerror}") from None
        head = self._file.read(CLASSIC_HEADER)
        if len(head) < 4:
            self.close()
            raise PcapError(f"{path}: truncated global header ({len(head)} of {CLASSIC_HEADER} bytes)")
        (magic,) = struct.unpack_from("<I", head)
        if magic == PCAPNG_MAGIC:
            from .pcapng import pcapng_reader

            self._pcapng = pcapng_reader(path, self.mapping())  # the blocks before the first packet
            self.format = "pcapng"
            self.interfaces = self._pcapng.interfaces or [Interface(-1, 0)]  # grows as the walk meets more
            return
        if magic not in CLASSIC_MAGICS:
            self.close()
            raise PcapError(f"{path}: not a pcap or pcapng file (magic 0x{magic:08x})")
        if len(head) < CLASSIC_HEADER:
            self.close()
            raise PcapError(f"{path}: truncated global header ({len(head)} of {CLASSIC_HEADER} bytes)")
        big_endian, self.nanosecond = CLASSIC_MAGICS[magic]
        order = ">" if big_endian else "<"
        *_, snaplen, network = struct.unpack_from(order + "IHHiIII", head)
        self.format = "pcap"
        self.interfaces = [Interface(network & 0xFFFF, snaplen)]
        self._big_endian, self._snaplen = big_endian, snaplen
        self._limit = snaplen if 0 < snaplen <= MAX_CAPLEN else MAX_CAPLEN

    def _describe_whole(self, capture: Capture) -> None:
        self.format, self.nanosecond, self.interfaces = capture.format, capture.nanosecond, capture.interfaces
        self.read_seconds += capture.read_seconds or 0.0

    @property
    def linktype(self) -> int:
        types = {iface.linktype for iface in self.interfaces}
        return types.pop() if len(types) == 1 else -1

    @property
    def nanosecond(self) -> bool:
        """Whether the file stamps packets in nanoseconds (any interface of a pcapng, also one
        declared after packets: asked for by the sinks that write pcaps, before the walk
        has met it, so it is looked up ahead)."""
        if self._pcapng is not None and self._nanosecond is None:
            self._nanosecond = self._pcapng.nanosecond_anywhere()
        return bool(self._nanosecond)

    @nanosecond.setter
    def nanosecond(self, value: bool) -> None:
        self._nanosecond = value

    @property
    def reads_ahead(self) -> bool:
        """Whether the next piece may be read in another thread while the caller runs the
        current one (driver.read_ahead): a classic pcap file's, whose walk is native code
        and shares nothing with the sinks; a pcapng walker is Python, and a sink may ask it
        about interfaces further on (`nanosecond`)."""
        return self._whole is None and self._pcapng is None

    @property
    def fraction(self) -> float:
        """How much of the capture the chunks so far covered (0..1), for progress bars."""
        if self._whole is not None:
            return self.packets / len(self._whole) if len(self._whole) else 1.0
        return min(1.0, self._consumed / self.size) if self.size else 1.0

    def chunks(self, ramp: bool = False) -> Generator[Capture, None, None]:
        """The pieces in file order; `ramp`: the first pieces of a classic file are smaller
        (piece_sizes)."""
        if self._whole is not None:
            whole = self._whole
            for start in range(0, len(whole), self.chunk_packets):
                piece = whole.piece(start, min(start + self.chunk_packets, len(whole)))
                self._count(piece, piece.total_bytes or 0)
                yield piece
            self.cut_count, self.zero_count, self.short_count = whole.cut_count, whole.zero_count, whole.short_count
            self.first = {"cut": _first_indices(whole.is_cut, len(whole)) if whole.cut_count else [],
                          "zero": _first_indices(lambda i: whole.lengths[i] == 0, len(whole)) if whole.zero_count else [],
                          "short": whole.short_indices()}  # each scans the capture only when there are some
            return
        try:
            yield from self._streamed_chunks(ramp)
        finally:
            self.close()

    def _streamed_chunks(self, ramp: bool) -> Iterator[Capture]:
        """Pieces over the file mapped copy-on-write (never written): no read copies it,
        packets stay where the file has them (offsets are file offsets), and the pages of
        records already handed out are dropped from the process (MADV_DONTNEED: they read
        back from the file if a piece is used again), so memory does not grow with the file."""
        walker = self._pcapng
        pieces = self._pcapng_pieces(walker) if walker is not None else self._classic_pieces(ramp)
        reader = _PieceReader(pieces, self.mapping())
        while True:
            started = time.perf_counter()
            got = reader.next_piece()
            self.read_seconds += time.perf_counter() - started
            if got is None:
                break
            piece, start, stop = got
            self._count(piece, piece.bytes_captured())
            self._consumed = stop
            if len(piece):
                yield piece
            reader.release_before(start)  # the pieces before this one are done with
        self._consumed = self.size

    def _classic_pieces(self, ramp: bool) -> Iterator[tuple[Capture, int, int]]:
        """(piece, file offsets where it starts and ends), in file order (the stream's
        counters are the consumer's: _streamed_chunks counts each piece it hands out)."""
        whole = self.mapping()
        frac_ns = 1 if self.nanosecond else 1000
        pos, first_index = CLASSIC_HEADER, 0
        sizes = piece_sizes(self.chunk_packets, ramp)
        arrays = scan.record_arrays(RECORD_SETS, self.chunk_packets)
        while pos < len(whole):
            end = min(len(whole), pos + self.chunk_bytes)  # a chunk spans at most chunk_bytes
            with memoryview(whole) as view:
                records, stop, error = scan.walk(view[:end], pos, self._big_endian, frac_ns, self._limit,
                                                 MAX_CAPLEN, next(sizes), arrays)
            if error is not None and (end == len(whole) or error.code in (scan.CAPLEN_OVER_MAX,
                                                                          scan.CAPLEN_OVER_SNAPLEN)):
                error = scan.ScanError(error.code, first_index + error.index, error.offset, error.caplen)
                raise PcapError(_describe(self.path, error, self._snaplen, self.size))
            # else the window ended inside a record: the next chunk starts with it
            piece = Capture(
                path=self.path, format="pcap", buffer=whole, offsets=records.offsets,
                lengths=records.lengths, orig_lengths=records.orig_lengths, timestamps=records.timestamps,
                interfaces=self.interfaces, cut_count=records.cut, zero_count=records.zero,
                short_count=records.short, total_bytes=records.total_bytes, nanosecond=self.nanosecond,
                first_index=first_index,
            )
            first_index += len(piece)
            yield piece, pos, stop
            pos = stop

    def _pcapng_pieces(self, walker: "PcapngReader") -> Iterator[tuple[Capture, int, int]]:
        """As _classic_pieces, walking pcapng blocks (pcapng.py) chunk_packets packets at a
        time.  An interface declared after the first packet must keep the link type the
        stream started with (a replay checked that one)."""
        linktype = self.linktype
        for stop in walker.walk(self.chunk_packets):
            start = walker.piece_start
            piece = walker.take()
            if self.linktype != linktype:
                raise PcapError(linktype_problem(self.path, self.linktype))
            yield piece, start, stop

    def mapping(self) -> mmap.mmap:
        """The classic capture file, mapped copy-on-write (what the pieces' offsets index)."""
        if self._map is None:
            try:
                self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_COPY)
            except (OSError, ValueError) as exc:
                raise PcapError(f"{self.path}: cannot read: {exc}") from None
        return self._map

    def _count(self, piece: Capture, total_bytes: int) -> None:
        """Totals over the file, and the first few odd records of each kind."""
        lengths, origs = piece.lengths, piece.orig_lengths
        for kind, present, odd in (("cut", piece.cut_count, lambda i: lengths[i] < origs[i]),
                                   ("zero", piece.zero_count, lambda i: lengths[i] == 0),
                                   ("short", piece.short_count, lambda i: lengths[i] < scan.ETH_HLEN)):
            listed = self.first[kind]
            if present and len(listed) < WARNINGS_LISTED:
                listed += [piece.first_index + i for i in _first_indices(odd, len(piece), WARNINGS_LISTED - len(listed))]
        self.cut_count += piece.cut_count
        self.zero_count += piece.zero_count
        self.short_count += piece.short_count
        self.bytes_captured += total_bytes
        self.packets += len(piece)

    @property
    def warnings(self) -> list[str]:
        """One line per class of odd record (cut, zero-length), as Capture.flag_records."""
        lines = []
        if self.cut_count:
            lines.append(f"{self.path}: {_count(self.cut_count, 'packet')} cut short by the snaplen (caplen < len): "
                         f"{_records(self.first['cut'], self.cut_count)}")
        if self.zero_count:
            lines.append(f"{self.path}: {_count(self.zero_count, 'zero-length packet')}: "
                         f"{_records(self.first['zero'], self.zero_count)}")
        return lines

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> "CaptureStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def release_pages(whole: mmap.mmap, start: int, stop: int) -> int:
    """Drop the whole pages of [start, stop) from memory; the new start."""
    stop -= stop % mmap.PAGESIZE
    start -= start % mmap.PAGESIZE
    if stop > start and hasattr(whole, "madvise"):
        whole.madvise(mmap.MADV_DONTNEED, start, stop - start)
        return stop
    return start


class _PieceReader:
    """Hands out a file's pieces, dropping from memory the pages of those the consumer is
    done with before walking the next."""

    def __init__(self, pieces: Iterator, whole: mmap.mmap):
        self._pieces, self._whole = pieces, whole
        self._done_before = self._released = 0

    def next_piece(self):
        """The next (piece, start offset, end offset), or None at the end of the file."""
        self._released = release_pages(self._whole, self._released, self._done_before)
        return next(self._pieces, None)

    def release_before(self, offset: int) -> None:
        self._done_before = max(self._done_before, offset)


def _read_file(path: str) -> bytes | mmap.mmap:
    """Small files as bytes; large ones mapped copy-on-write (no 100 MB copy, and the
    pages are writable so native code can be handed their address)."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size < scan.NATIVE_MIN_BYTES:
                return handle.read()
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    except FileNotFoundError:
        raise PcapError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PcapError(f"{path}: is a directory, not a capture file") from None
    except OSError as exc:
        raise PcapError(f"{path}: cannot read: {exc.strerror}") from None


def _read_classic(path: str, buffer: bytes, big_endian: bool, nanosecond: bool) -> Capture:
    if len(buffer) < CLASSIC_HEADER:
        raise PcapError(f"{path}: truncated global header ({len(buffer)} of {CLASSIC_HEADER} bytes)")
    order = ">" if big_endian else "<"
    _magic, _major, _minor, _zone, _sigfigs, snaplen, network = struct.unpack_from(order + "IHHiIII", buffer)
    linktype = network & 0xFFFF  # upper bits: FCS length flags (pcap draft, "LinkType and additional information")
    limit = snaplen if 0 < snaplen <= MAX_CAPLEN else MAX_CAPLEN  # snaplen 0 means "unlimited" to libpcap
    records = scan.scan_records(buffer, CLASSIC_HEADER, big_endian, 1 if nanosecond else 1000, limit, MAX_CAPLEN)
    if isinstance(records, scan.ScanError):
        raise PcapError(_describe(path, records, snaplen, len(buffer)))
    return Capture(
        path=path,
        format="pcap",
        buffer=buffer,
        offsets=records.offsets,
        lengths=records.lengths,
        orig_lengths=records.orig_lengths,
        timestamps=records.timestamps,
        interfaces=[Interface(linktype, snaplen)],
        cut_count=records.cut,
        zero_count=records.zero,
        short_count=records.short,
        total_bytes=records.total_bytes,
        nanosecond=nanosecond,
    )


def _describe(path: str, error: scan.ScanError, snaplen: int, size: int) -> str:
    where = f"{path}: record {error.index} at offset {error.offset}"
    if error.code == scan.TRUNCATED_HEADER:
        return f"{where}: truncated record header ({size - error.offset} of {scan.RECORD_HEADER} bytes)"
    if error.code == scan.CAPLEN_OVER_MAX:
        return f"{where}: caplen {error.caplen} is over the 256 KiB limit ({MAX_CAPLEN}); the file is corrupt"
    if error.code == scan.CAPLEN_OVER_SNAPLEN:
        return f"{where}: caplen {error.caplen} > snaplen {snaplen}"
    left = size - error.offset - scan.RECORD_HEADER
    return f"{where}: truncated record (caplen {error.caplen}, {left} bytes left in the file)"


def _first_indices(predicate, total: int, limit: int = WARNINGS_LISTED) -> list[int]:
    found = []
    for index in range(total):
        if predicate(index):
            found.append(index)
            if len(found) == limit:
                break
    return found


def _records(listed: list[int], total: int) -> str:
    text = ("record " if len(listed) == 1 else "records ") + ", ".join(map(str, listed))
    return text + (f" and {total - len(listed)} more" if total > len(listed) else "")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


class PcapWriter:
    """Write classic pcap records one by one (µs or ns timestamps, either byte order)."""

    def __init__(
        self,
        target: str | os.PathLike | BinaryIO,
        linktype: int = LINKTYPE_ETHERNET,
        snaplen: int = MAX_CAPLEN,
        nanosecond: bool = False,
        big_endian: bool = False,
    ):
        self._own = not hasattr(target, "write")
        self._file = open(target, "wb") if self._own else target
        order = ">" if big_endian else "<"
        magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
        self._file.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        self._record = struct.Struct(order + "IIII").pack
        self._frac_unit = 1 if nanosecond else 1000
        self.count = 0

    def write(self, data: bytes, timestamp_ns: int = 0, orig_len: int | None = None) -> None:
        seconds, rest = divmod(timestamp_ns, 1_000_000_000)
        if not 0 <= seconds <= MAX_SECONDS:
            name = getattr(self._file, "name", "pcap output")
            raise PcapError(f"{name}: packet {self.count}: timestamp {timestamp_ns} ns is outside what a classic pcap "
                            f"record holds (0 to {MAX_SECONDS} s); the capture's clock (pcapng if_tsoffset?) is beyond 2106")
        header = self._record(seconds, rest // self._frac_unit, len(data), len(data) if orig_len is None else orig_len)
        self._file.write(header)
        self._file.write(data)
        self.count += 1

    def write_records(self, records: bytes | bytearray | memoryview, count: int) -> None:
        """Append `count` records already laid out as this writer's (one write per chunk)."""
        self._file.write(records)
        self.count += count

    def close(self) -> None:
        if self._own:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_pcap(path: str | os.PathLike, packets: Iterable[bytes | Packet], **options) -> int:
    """Write packets (bytes, or Packets keeping their timestamps) to a classic pcap file."""
    with PcapWriter(path, **options) as writer:
        for packet in packets:
            if isinstance(packet, Packet):
                writer.write(packet.data, packet.timestamp_ns, packet.orig_len)
            else:
                writer.write(packet)
        return writer.count
