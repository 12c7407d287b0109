"""Walk the records of a classic pcap file into flat arrays, fast.

A pcap record header says how long its packet is, so finding record n needs
every record before it: the walk is inherently sequential.  A Python loop costs
~0.6 s per million records; this module compiles a 40-line LLVM IR loop (once:
the jit's persistent cache keeps it as a shared object, loaded in a millisecond)
that does the same walk at memory speed.  A pure
Python walk with the same results serves small files (where compiling costs
more than it saves) and is the oracle the tests hold the native walk to.

Both walks stop at the first bad record and report it as a `ScanError`
(error code, record index, file offset); `pcap.py` turns that into a message.
"""


import ctypes
import struct
import threading
from array import array
from typing import NamedTuple

from ..codegen.ir_text import store_words
from ..pools import ArrayPool

# Record-level error codes shared by both walks (checked in this order, as libpcap does).
TRUNCATED_HEADER = 1
CAPLEN_OVER_MAX = 2
CAPLEN_OVER_SNAPLEN = 3
TRUNCATED_DATA = 4

RECORD_HEADER = 16  # ts_sec, ts_frac, caplen, len: four u32
ETH_HLEN = 14  # shorter packets are not Ethernet frames; counted as `short`
NATIVE_MIN_BYTES = 1 << 20  # below this the Python walk is quicker than compiling
TYPICAL_RECORD = 64  # bytes per record assumed when sizing the output arrays


class ScanError(NamedTuple):
    """The first record a capture walk could not take, and why (`code`)."""

    code: int
    index: int  # record index (0-based)
    offset: int  # file offset of the record header
    caplen: int = 0


RECORD_CODES = ("Q", "I", "I", "Q")  # Records' arrays: offsets, lengths, orig_lengths, timestamps


def record_arrays(keep: int, largest: int) -> ArrayPool:
    """A pool for the native walk's record arrays (pools.py): a stream's pieces come and
    go at the same sizes."""
    return ArrayPool(RECORD_CODES, keep, largest)


class Records(NamedTuple):
    """Where each packet is in the file buffer, plus what its header said."""

    offsets: array  # 'Q': file offset of packet data
    lengths: array  # 'I': captured length
    orig_lengths: array  # 'I': length on the wire
    timestamps: array  # 'Q': nanoseconds since the epoch
    cut: int  # records with caplen < len (snaplen-cut)
    zero: int  # records with caplen == 0
    short: int  # records with caplen < ETH_HLEN (the kernel's test run refuses them)
    total_bytes: int = 0  # sum of the captured lengths


def scan_records(
    buf: bytes, start: int, big_endian: bool, frac_ns: int, snaplen: int, max_caplen: int
) -> Records | ScanError:
    """Walk records from `start` to the end of `buf` with whichever walk is quicker."""
    if len(buf) >= NATIVE_MIN_BYTES:
        native = _native_scanner()
        if native is not None:
            return native(buf, start, big_endian, frac_ns, snaplen, max_caplen)
    return scan_records_python(buf, start, big_endian, frac_ns, snaplen, max_caplen)


def scan_records_python(
    buf: bytes, start: int, big_endian: bool, frac_ns: int, snaplen: int, max_caplen: int
) -> Records | ScanError:
    records, _end, error = walk_python(buf, start, big_endian, frac_ns, snaplen, max_caplen)
    return records if error is None else error


def walk_python(
    buf: bytes, start: int, big_endian: bool, frac_ns: int, snaplen: int, max_caplen: int, limit: int | None = None
) -> tuple[Records, int, ScanError | None]:
    """Records from `start` until `limit` of them, the end of `buf` or a bad record:
    (records, offset where the walk stopped, the bad record or None)."""
    header = struct.Struct(">IIII" if big_endian else "<IIII").unpack_from
    offsets, lengths, origs, stamps = array("Q"), array("I"), array("I"), array("Q")
    add_offset, add_length, add_orig, add_stamp = offsets.append, lengths.append, origs.append, stamps.append
    cut = zero = short = total = 0
    pos, end, index = start, len(buf), 0
    limit = -1 if limit is None else limit
    error = None
    while pos < end and index != limit:
        if end - pos < RECORD_HEADER:
            error = ScanError(TRUNCATED_HEADER, index, pos)
            break
        sec, frac, caplen, orig = header(buf, pos)
        if caplen > max_caplen:
            error = ScanError(CAPLEN_OVER_MAX, index, pos, caplen)
            break
        if caplen > snaplen:
            error = ScanError(CAPLEN_OVER_SNAPLEN, index, pos, caplen)
            break
        data = pos + RECORD_HEADER
        if caplen > end - data:
            error = ScanError(TRUNCATED_DATA, index, pos, caplen)
            break
        add_offset(data)
        add_length(caplen)
        add_orig(orig)
        add_stamp(sec * 1_000_000_000 + frac * frac_ns)
        cut += caplen < orig
        zero += caplen == 0
        short += caplen < ETH_HLEN
        total += caplen
        pos = data + caplen
        index += 1
    return Records(offsets, lengths, origs, stamps, cut, zero, short, total), pos, error


def walk(
    buf, start: int, big_endian: bool, frac_ns: int, snaplen: int, max_caplen: int, limit: int,
    arrays: ArrayPool | None = None,
) -> tuple[Records, int, ScanError | None]:
    """`walk_python`'s results with the compiled walk when `buf` is large enough to pay
    for compiling it (the streaming reader's chunks), into arrays from `arrays` if given."""
    if len(buf) >= NATIVE_MIN_BYTES:
        native = _native_scanner()
        if native is not None:
            return native.walk(buf, start, big_endian, frac_ns, snaplen, max_caplen, limit, arrays)
    return walk_python(buf, start, big_endian, frac_ns, snaplen, max_caplen, limit)


# What both record walks (classic pcap, pcapng) keep of each record they take, written
# once: the loop over records (%pos, %i) with the running counts of cut, empty and short
# records and their bytes (phis at the loop head, updated in the block %count), and the record's offset, caplen, original
# length and timestamp stored at index %i.
_RECORD_PIECES = {
    "RECORD_LOOP_HEAD\n": "entry:\n  %swap = icmp ne i32 %big, 0\n  br label %loop\n\nloop:\n"
                          "  %pos = phi i64 [ %start, %entry ], [ %next, %count ]\n"
                          "  %i = phi i64 [ 0, %entry ], [ %i1, %count ]\n"
                          + "".join(f"  %{name} = phi i64 [ 0, %entry ], [ %{name}1, %count ]\n"
                                    for name in ("cut", "zero", "short", "total")),
    "RECORD_TALLY\n": r"""  %is_cut = icmp ult i32 %caplen, %orig
  %is_cut64 = zext i1 %is_cut to i64
  %cut1 = add i64 %cut, %is_cut64
  %is_zero = icmp eq i32 %caplen, 0
  %is_zero64 = zext i1 %is_zero to i64
  %zero1 = add i64 %zero, %is_zero64
  %is_short = icmp ult i32 %caplen, 14
  %is_short64 = zext i1 %is_short to i64
  %short1 = add i64 %short, %is_short64
  %total1 = add i64 %total, %caplen64
""",
    "RECORD_STORES\n": r"""  %o_ptr = getelementptr i64, ptr %offs, i64 %i
  store i64 %data, ptr %o_ptr, align 8
  %c_ptr = getelementptr i32, ptr %caps, i64 %i
  store i32 %caplen, ptr %c_ptr, align 4
  %l_ptr = getelementptr i32, ptr %origs, i64 %i
  store i32 %orig, ptr %l_ptr, align 4
  %t_ptr = getelementptr i64, ptr %ts, i64 %i
""",
}


def _with_record_pieces(text: str) -> str:
    for mark, piece in _RECORD_PIECES.items():
        text = text.replace(mark, piece)
    return text


# One pass fills the arrays until they hold `cap` records, the buffer ends, or a
# record is bad; it returns the number of records stored.
# state: [end/error offset, error code, cut, zero, bad caplen, short, total bytes].
SCANNER_IR = _with_record_pieces(r"""
declare i32 @llvm.bswap.i32(i32)

define i32 @load32(ptr %p, i1 %swap) alwaysinline {
  %raw = load i32, ptr %p, align 1
  %swapped = call i32 @llvm.bswap.i32(i32 %raw)
  %v = select i1 %swap, i32 %swapped, i32 %raw
  ret i32 %v
}

define i64 @scan(ptr %buf, i64 %len, i64 %start, i32 %big, i64 %frac_ns, i64 %snaplen, i64 %maxcap,
                 ptr %offs, ptr %caps, ptr %origs, ptr %ts, i64 %cap, ptr %state) {
RECORD_LOOP_HEAD
  %more = icmp ult i64 %pos, %len
  %room_out = icmp ult i64 %i, %cap
  %go = and i1 %more, %room_out
  br i1 %go, label %header, label %finish

header:
  %left = sub i64 %len, %pos
  %no_header = icmp ult i64 %left, 16
  br i1 %no_header, label %err_header, label %read

read:
  %p0 = getelementptr i8, ptr %buf, i64 %pos
  %p1 = getelementptr i8, ptr %p0, i64 4
  %p2 = getelementptr i8, ptr %p0, i64 8
  %p3 = getelementptr i8, ptr %p0, i64 12
  %sec = call i32 @load32(ptr %p0, i1 %swap)
  %frac = call i32 @load32(ptr %p1, i1 %swap)
  %caplen = call i32 @load32(ptr %p2, i1 %swap)
  %orig = call i32 @load32(ptr %p3, i1 %swap)
  %caplen64 = zext i32 %caplen to i64
  %over_max = icmp ugt i64 %caplen64, %maxcap
  br i1 %over_max, label %err_max, label %check_snap

check_snap:
  %over_snap = icmp ugt i64 %caplen64, %snaplen
  br i1 %over_snap, label %err_snap, label %check_data

check_data:
  %data = add i64 %pos, 16
  %room = sub i64 %len, %data
  %over_room = icmp ugt i64 %caplen64, %room
  br i1 %over_room, label %err_data, label %count

count:
  %next = add i64 %data, %caplen64
RECORD_TALLY
  %sec64 = zext i32 %sec to i64
  %frac64 = zext i32 %frac to i64
  %sec_ns = mul i64 %sec64, 1000000000
  %frac_part = mul i64 %frac64, %frac_ns
  %stamp = add i64 %sec_ns, %frac_part
RECORD_STORES
  store i64 %stamp, ptr %t_ptr, align 8
  %i1 = add i64 %i, 1
  br label %loop

err_header:
  br label %fail
err_max:
  br label %fail
err_snap:
  br label %fail
err_data:
  br label %fail

fail:
  %code = phi i64 [ 1, %err_header ], [ 2, %err_max ], [ 3, %err_snap ], [ 4, %err_data ]
  %bad_caplen = phi i64 [ 0, %err_header ], [ %caplen64, %err_max ], [ %caplen64, %err_snap ], [ %caplen64, %err_data ]
FAIL_STATE
  br label %finish

finish:
FINISH_STATE
  ret i64 %i
}
""".replace("FAIL_STATE\n", store_words("state", ((1, "%code"), (4, "%bad_caplen")))).replace(
    "FINISH_STATE\n", store_words("state", ((0, "%pos"), (2, "%cut"), (3, "%zero"), (5, "%short"), (6, "%total")))))

# The pcapng walk's common case (pcapng.py): Enhanced Packet Blocks on interfaces
# the section has declared, and Simple Packet Blocks (interface 0; no timestamp, so 0;
# caplen min(original length, snaplen if any, room in the block), as pcapng.py's
# simple_packet takes them), one after another.  It gathers them until `cap` packets, the
# end of the buffer, or any block it does not take whole: another kind of block, a
# malformed one, an interface it has no entry for, a caplen over a limit, a timestamp
# out of range.  It stops before that block (state[0]: its offset) and the Python
# walker handles it exactly as it handles every block, then lets this walk go on.
# ifaces: PCAPNG_IFACE_FIELDS i64 per interface number of the section:
#   units per second (0: not walked natively), mul, shift, div (the fraction of a
#   second in ns is ((rest * mul) >> shift) / div), offset seconds (signed), snaplen
#   (0: none), the capture-wide interface index.
# state: [stop offset, cut, zero, short, total bytes].
PCAPNG_IFACE_FIELDS = 7  # i64 per interface in pcapng_walk's table
PCAPNG_WALK_IR = _with_record_pieces(r"""
declare i64 @llvm.umin.i64(i64, i64)

define i64 @pcapng_walk(ptr %buf, i64 %len, i64 %start, i32 %big, ptr %ifaces, i64 %n_ifaces, i64 %maxcap,
                        ptr %offs, ptr %caps, ptr %origs, ptr %ts, ptr %ifids, i64 %cap, ptr %state) {
RECORD_LOOP_HEAD
  %left = sub i64 %len, %pos
  %room_in = icmp uge i64 %left, 16
  %room_out = icmp ult i64 %i, %cap
  %more = icmp ult i64 %pos, %len
  %go0 = and i1 %room_in, %room_out
  %go = and i1 %go0, %more
  br i1 %go, label %header, label %finish

header:
  %p0 = getelementptr i8, ptr %buf, i64 %pos
  %kind = call i32 @load32(ptr %p0, i1 %swap)
  %p4 = getelementptr i8, ptr %p0, i64 4
  %blen = call i32 @load32(ptr %p4, i1 %swap)
  %blen64 = zext i32 %blen to i64
  %is_epb = icmp eq i32 %kind, 6
  %is_spb = icmp eq i32 %kind, 3
  %is_packet = or i1 %is_epb, %is_spb
  %least = select i1 %is_epb, i32 32, i32 16
  %long_enough = icmp uge i32 %blen, %least
  %aligned0 = and i32 %blen, 3
  %aligned = icmp eq i32 %aligned0, 0
  %fits = icmp ule i64 %blen64, %left
  %ok0 = and i1 %is_packet, %long_enough
  %ok1 = and i1 %ok0, %aligned
  %ok2 = and i1 %ok1, %fits
  br i1 %ok2, label %trailer, label %finish

trailer:
  %tail_at = sub i64 %blen64, 4
  %pt = getelementptr i8, ptr %p0, i64 %tail_at
  %tail = call i32 @load32(ptr %pt, i1 %swap)
  %p8 = getelementptr i8, ptr %p0, i64 8
  %word8 = call i32 @load32(ptr %p8, i1 %swap)
  %word8_64 = zext i32 %word8 to i64
  %number64 = select i1 %is_epb, i64 %word8_64, i64 0
  %same = icmp eq i32 %tail, %blen
  %known = icmp ult i64 %number64, %n_ifaces
  %ok3 = and i1 %same, %known
  br i1 %ok3, label %iface, label %finish

iface:
  %row = mul i64 %number64, FIELDS
  %f_units = getelementptr i64, ptr %ifaces, i64 %row
  %units = load i64, ptr %f_units, align 8
  %f_mul = getelementptr i64, ptr %f_units, i64 1
  %mul = load i64, ptr %f_mul, align 8
  %f_shift = getelementptr i64, ptr %f_units, i64 2
  %shift = load i64, ptr %f_shift, align 8
  %f_div = getelementptr i64, ptr %f_units, i64 3
  %div = load i64, ptr %f_div, align 8
  %f_offset = getelementptr i64, ptr %f_units, i64 4
  %offset = load i64, ptr %f_offset, align 8
  %f_snap = getelementptr i64, ptr %f_units, i64 5
  %snaplen = load i64, ptr %f_snap, align 8
  %f_index = getelementptr i64, ptr %f_units, i64 6
  %index = load i64, ptr %f_index, align 8
  %native = icmp ne i64 %units, 0
  %no_snap = icmp eq i64 %snaplen, 0
  br i1 %is_epb, label %epb, label %spb

spb:
  %s_limit = select i1 %no_snap, i64 %word8_64, i64 %snaplen
  %s_room = sub i64 %blen64, 16
  %s_cap0 = call i64 @llvm.umin.i64(i64 %word8_64, i64 %s_limit)
  %s_cap = call i64 @llvm.umin.i64(i64 %s_cap0, i64 %s_room)
  %s_under_max = icmp ule i64 %s_cap, %maxcap
  %s_ok = and i1 %native, %s_under_max
  %s_caplen = trunc i64 %s_cap to i32
  %s_data = add i64 %pos, 12
  br i1 %s_ok, label %count, label %finish

epb:
  %p12 = getelementptr i8, ptr %p0, i64 12
  %high = call i32 @load32(ptr %p12, i1 %swap)
  %p16 = getelementptr i8, ptr %p0, i64 16
  %low = call i32 @load32(ptr %p16, i1 %swap)
  %p20 = getelementptr i8, ptr %p0, i64 20
  %caplen_e = call i32 @load32(ptr %p20, i1 %swap)
  %p24 = getelementptr i8, ptr %p0, i64 24
  %orig_e = call i32 @load32(ptr %p24, i1 %swap)
  %e_cap = zext i32 %caplen_e to i64
  %under_max = icmp ule i64 %e_cap, %maxcap
  %under_snap0 = icmp ule i64 %e_cap, %snaplen
  %under_snap = or i1 %no_snap, %under_snap0
  %room = sub i64 %blen64, 32
  %in_block = icmp ule i64 %e_cap, %room
  %ok4 = and i1 %native, %under_max
  %ok5 = and i1 %ok4, %under_snap
  %ok6 = and i1 %ok5, %in_block
  br i1 %ok6, label %stamp, label %finish

stamp:
  %high64 = zext i32 %high to i64
  %low64 = zext i32 %low to i64
  %high_up = shl i64 %high64, 32
  %raw = or i64 %high_up, %low64
  %whole = udiv i64 %raw, %units
  %whole_units = mul i64 %whole, %units
  %rest = sub i64 %raw, %whole_units
  %rest128 = zext i64 %rest to i128
  %mul128 = zext i64 %mul to i128
  %scaled = mul i128 %rest128, %mul128
  %shift128 = zext i64 %shift to i128
  %shifted = lshr i128 %scaled, %shift128
  %shifted64 = trunc i128 %shifted to i64
  %frac = udiv i64 %shifted64, %div
  %whole128 = zext i64 %whole to i128
  %offset128 = sext i64 %offset to i128
  %seconds = add i128 %whole128, %offset128
  %sec_ns = mul i128 %seconds, 1000000000
  %frac128 = zext i64 %frac to i128
  %ns128 = add i128 %sec_ns, %frac128
  %in_range = icmp ult i128 %ns128, 18446744073709551616
  %e_ns = trunc i128 %ns128 to i64
  %e_data = add i64 %pos, 28
  br i1 %in_range, label %count, label %finish

count:
  %ns = phi i64 [ %e_ns, %stamp ], [ 0, %spb ]
  %data = phi i64 [ %e_data, %stamp ], [ %s_data, %spb ]
  %caplen64 = phi i64 [ %e_cap, %stamp ], [ %s_cap, %spb ]
  %caplen = phi i32 [ %caplen_e, %stamp ], [ %s_caplen, %spb ]
  %orig = phi i32 [ %orig_e, %stamp ], [ %word8, %spb ]
  %next = add i64 %pos, %blen64
RECORD_TALLY
  %index32 = trunc i64 %index to i32
RECORD_STORES
  store i64 %ns, ptr %t_ptr, align 8
  %n_ptr = getelementptr i32, ptr %ifids, i64 %i
  store i32 %index32, ptr %n_ptr, align 4
  %i1 = add i64 %i, 1
  br label %loop

finish:
FINISH_STATE
  ret i64 %i
}
""".replace("FIELDS", str(PCAPNG_IFACE_FIELDS)).replace(
    "FINISH_STATE\n", store_words("state", ((0, "%pos"), (1, "%cut"), (2, "%zero"), (3, "%short"), (4, "%total")))))
SCANNER_IR += PCAPNG_WALK_IR  # beside the classic walk: it uses its @load32


def buffer_address(buf) -> tuple[int, object]:
    """Address of the first byte of bytes or a writable buffer (a copy-on-write mmap), and its pin."""
    if isinstance(buf, bytes):
        pointer = ctypes.c_char_p(buf)  # points into the bytes object itself
        return ctypes.cast(pointer, ctypes.c_void_p).value or 0, pointer
    pinned = (ctypes.c_char * len(buf)).from_buffer(buf)
    return ctypes.addressof(pinned), pinned


def _joined(first: Records, second: Records) -> Records:
    return Records(
        first.offsets + second.offsets,
        first.lengths + second.lengths,
        first.orig_lengths + second.orig_lengths,
        first.timestamps + second.timestamps,
        first.cut + second.cut,
        first.zero + second.zero,
        first.short + second.short,
        first.total_bytes + second.total_bytes,
    )


SCAN_SIGNATURE = ctypes.CFUNCTYPE(
    ctypes.c_int64,
    ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
    ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
    ctypes.c_void_p,
)  # fmt: skip
P, I64 = ctypes.c_void_p, ctypes.c_int64
PCAPNG_WALK_SIGNATURE = ctypes.CFUNCTYPE(I64, P, I64, I64, ctypes.c_int32, P, I64, I64, P, P, P, P, P, I64, P)
# the native walks' signatures, by function name (kernels.py compiles them with its loops)
SCAN_SIGNATURES = {"scan": SCAN_SIGNATURE, "pcapng_walk": PCAPNG_WALK_SIGNATURE}

_compiled: dict[str, object] = {}
_UNPOOLED = record_arrays(0, 0)  # fresh arrays every time
_compile_lock = threading.Lock()


def prepare() -> None:
    """Load the native walk now (before worker processes are forked, so none loads its own)."""
    _native_scanner()


def native_pcapng_walk():
    """The compiled pcapng_walk (a ctypes function), or None without llvmlite."""
    scanner = _native_scanner()
    return None if scanner is None else scanner.functions["pcapng_walk"]


def _native_scanner():
    """The compiled walk wrapped to return Records | ScanError, or None without llvmlite."""
    with _compile_lock:
        if "scan" not in _compiled:
            _compiled["scan"] = _compile()
    return _compiled["scan"]


def _compile():
    from .kernels import native  # the replay's native loops, this walk among them

    try:
        functions = native()
    except ImportError:  # no llvmlite and nothing cached: the Python walk still works, only slower
        return None
    function = functions["scan"]

    def scan_native(buf, start, big_endian, frac_ns, snaplen, max_caplen):
        base, _pinned = buffer_address(buf)
        state = (ctypes.c_int64 * 7)()
        total: Records | None = None
        pos = start
        while True:
            cap = (len(buf) - pos) // TYPICAL_RECORD + 64  # usually enough for one call
            arrays = [array("Q", [0]) * cap, array("I", [0]) * cap, array("I", [0]) * cap, array("Q", [0]) * cap]
            pointers = (a.buffer_info()[0] for a in arrays)
            count = function(base, len(buf), pos, int(big_endian), frac_ns, snaplen, max_caplen, *pointers, cap, state)
            done = len(total.offsets) if total else 0
            if state[1]:
                return ScanError(state[1], done + count, state[0], state[4])
            for part in arrays:
                del part[count:]
            part = Records(*arrays, state[2], state[3], state[5], state[6])
            total = part if total is None else _joined(total, part)
            pos = state[0]
            if pos >= len(buf):
                return total

    def walk_native(buf, start, big_endian, frac_ns, snaplen, max_caplen, limit, pool=None):
        base, _pinned = buffer_address(buf)
        state = (ctypes.c_int64 * 7)()
        arrays = (pool or _UNPOOLED).take(limit)  # the walk writes entries [0, count); the rest are cut off
        pointers = (a.buffer_info()[0] for a in arrays)
        count = function(base, len(buf), start, int(big_endian), frac_ns, snaplen, max_caplen, *pointers, limit, state)
        for part in arrays:
            del part[count:]
        error = ScanError(state[1], count, state[0], state[4]) if state[1] else None
        return Records(*arrays, state[2], state[3], state[5], state[6]), state[0], error

    scan_native.walk = walk_native
    scan_native.functions = functions  # keeps the machine code alive with the wrapper
    return scan_native
