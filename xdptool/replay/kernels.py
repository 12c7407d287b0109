"""Per-packet loops of the replay that must not run in Python: writing output pcap
records in bulk, the RSS flow hash that picks a packet's receive queue, and
scattering a queue's results back into capture order.

Like the record walk in scan.py, each is a short LLVM IR loop, compiled with
llvmlite once and kept in the jit's persistent cache as a shared object (later
processes load it in a millisecond); the Python versions beside them (outputs.py,
rss.py) say what they compute and are what the tests hold them to.
"""

from __future__ import annotations

import ctypes
import threading
from array import array
from typing import Any

from ..codegen.flow_ir import BE16_IR, flow_walk_ir, step_ir
from ..codegen.ir_text import OUTPUT_PACKET_IR, PACKET_SLOT_AT_I, index_loop
from .scan import SCAN_SIGNATURES, SCANNER_IR, buffer_address

# Output pcap records (classic pcap, little-endian, as PcapWriter writes them by default).
# Class of a packet = its output file: the verdict, or XDP_ABORTED (0) for a fault or a
# return value above XDP_REDIRECT (4), as outputs.VERDICT_FILES says.
_IR = r"""
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)

define i64 @emit(i64 %n, ptr %retvals, ptr %faults, i32 %want, ptr %in_base, ptr %in_offs,
                 ptr %out_base, ptr %out_offs, ptr %out_lens, ptr %stamps, ptr %in_lens, ptr %origs,
                 i64 %frac_div, ptr %dst, ptr %state) {
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %next ]
  %pos = phi i64 [ 0, %entry ], [ %pos2, %next ]
  %cnt = phi i64 [ 0, %entry ], [ %cnt2, %next ]
  %more = icmp ult i64 %i, %n
  br i1 %more, label %body, label %done
body:
  %rp = getelementptr i32, ptr %retvals, i64 %i
  %r = load i32, ptr %rp, align 4
  %fp = getelementptr i8, ptr %faults, i64 %i
  %f = load i8, ptr %fp, align 1
  %faulted = icmp ne i8 %f, 0
  %unknown = icmp ugt i32 %r, 4
  %aborted = or i1 %faulted, %unknown
  %class = select i1 %aborted, i32 0, i32 %r
  %hit = icmp eq i32 %class, %want
  br i1 %hit, label %stamp, label %next
stamp:
  %sp = getelementptr i64, ptr %stamps, i64 %i
  %st = load i64, ptr %sp, align 8
  %sec = udiv i64 %st, 1000000000
  %late = icmp ugt i64 %sec, 4294967295
  br i1 %late, label %bad, label %write
write:
  %src = call ptr @output_packet(i64 %i, ptr %in_base, ptr %in_offs, ptr %out_base, ptr %out_offs)
  %olp = getelementptr i32, ptr %out_lens, i64 %i
  %ol = load i32, ptr %olp, align 4
  %ol64 = zext i32 %ol to i64
  %ilp = getelementptr i32, ptr %in_lens, i64 %i
  %il = load i32, ptr %ilp, align 4
  %orp = getelementptr i32, ptr %origs, i64 %i
  %orig_in = load i32, ptr %orp, align 4
  %was_cut = icmp ugt i32 %orig_in, %il
  %excess = sub i32 %orig_in, %il
  %extra = select i1 %was_cut, i32 %excess, i32 0
  %orig_out = add i32 %ol, %extra
  %rem = urem i64 %st, 1000000000
  %frac = udiv i64 %rem, %frac_div
  %sec32 = trunc i64 %sec to i32
  %frac32 = trunc i64 %frac to i32
  %h0 = getelementptr i8, ptr %dst, i64 %pos
  store i32 %sec32, ptr %h0, align 1
  %h1 = getelementptr i8, ptr %h0, i64 4
  store i32 %frac32, ptr %h1, align 1
  %h2 = getelementptr i8, ptr %h0, i64 8
  store i32 %ol, ptr %h2, align 1
  %h3 = getelementptr i8, ptr %h0, i64 12
  store i32 %orig_out, ptr %h3, align 1
  %d = getelementptr i8, ptr %h0, i64 16
  call void @llvm.memcpy.p0.p0.i64(ptr %d, ptr %src, i64 %ol64, i1 false)
  %rec = add i64 %ol64, 16
  %pos1 = add i64 %pos, %rec
  %cnt1 = add i64 %cnt, 1
  br label %next
next:
  %pos2 = phi i64 [ %pos, %body ], [ %pos1, %write ]
  %cnt2 = phi i64 [ %cnt, %body ], [ %cnt1, %write ]
  %i1 = add i64 %i, 1
  br label %loop
bad:
  %s1 = getelementptr i64, ptr %state, i64 1
  store i64 %i, ptr %s1, align 8
  %s2 = getelementptr i64, ptr %state, i64 2
  store i64 1, ptr %s2, align 8
  br label %done
done:
  %pos_end = phi i64 [ %pos, %loop ], [ %pos, %bad ]
  %cnt_end = phi i64 [ %cnt, %loop ], [ %cnt, %bad ]
  store i64 %cnt_end, ptr %state, align 8
  ret i64 %pos_end
}


; rss.flow_hash: the shared flow walk (codegen/flow_ir.py) with the Toeplitz step; 0 without an IP header
define i32 @flow_hash(ptr %pkt, i64 %len, ptr %table) {
  %r = call i64 @flow_walk(ptr %pkt, i64 %len, ptr %table, i32 0)
  %none = icmp eq i64 %r, -1
  %h = trunc i64 %r to i32
  %v = select i1 %none, i32 0, i32 %h
  ret i32 %v
}

"""

_IR += index_loop("; hashes[i] = flow_hash(packet i)\n"
                  "define void @hashes(ptr %base, ptr %offs, ptr %lens, i64 %n, ptr %table, ptr %out)",
                  PACKET_SLOT_AT_I + """
  %pkt = getelementptr i8, ptr %base, i64 %o
  %h = call i32 @flow_hash(ptr %pkt, i64 %l64, ptr %table)
  %hp = getelementptr i32, ptr %out, i64 %i
  store i32 %h, ptr %hp, align 4
""")
_IR += index_loop("; assigned[i] = reta[flow_hash(packet i) & 127]: the queue of every packet\n"
                  "define void @assign(ptr %base, ptr %offs, ptr %lens, i64 %n, ptr %table, ptr %reta, ptr %assigned)",
                  PACKET_SLOT_AT_I + """
  %pkt = getelementptr i8, ptr %base, i64 %o
  %h = call i32 @flow_hash(ptr %pkt, i64 %l64, ptr %table)
  %slot = and i32 %h, 127
  %slot64 = zext i32 %slot to i64
  %qp = getelementptr i8, ptr %reta, i64 %slot64
  %q = load i8, ptr %qp, align 1
  %ap = getelementptr i8, ptr %assigned, i64 %i
  store i8 %q, ptr %ap, align 1
""")
# Branch-free: every packet is written at j, which moves on only for a wanted one (j <= i < n,
# so the writes stay inside arrays of n); a branch on the queue mispredicted every other packet.
_IR += index_loop("; The packets with assigned[i] == want: their index, offset and length; returns how many.\n"
                  "define i64 @pick(ptr %assigned, ptr %offs, ptr %lens, i64 %n, i32 %want, ptr %oidx, ptr %ooff, "
                  "ptr %olen)", """
  %ap = getelementptr i8, ptr %assigned, i64 %i
  %q = load i8, ptr %ap, align 1
  %q32 = zext i8 %q to i32
  %mine = icmp eq i32 %q32, %want
""" + PACKET_SLOT_AT_I + """
  %i32 = trunc i64 %i to i32
  %xp = getelementptr i32, ptr %oidx, i64 %j
  store i32 %i32, ptr %xp, align 4
  %fo = getelementptr i64, ptr %ooff, i64 %j
  store i64 %o, ptr %fo, align 8
  %fl = getelementptr i32, ptr %olen, i64 %j
  store i32 %l, ptr %fl, align 4
  %step = zext i1 %mine to i64
  %j1 = add i64 %j, %step
""", "ret i64 %j", carried=(("j", "i64", "0"),))

# dst[idx[i]] = src[i] for 1-, 4- and 8-byte elements; the 8-byte form adds `add` to
# every value but -1 (an unchanged packet's output offset, jit/batch.py UNCHANGED)
_SCATTER_BODY = """
  %xp = getelementptr i32, ptr %idx, i64 %i
  %x = load i32, ptr %xp, align 4
  %x64 = zext i32 %x to i64
  %sp = getelementptr i{bits}, ptr %src, i64 %i
  %v = load i{bits}, ptr %sp, align {align}
{adjust}  %dp = getelementptr i{bits}, ptr %dst, i64 %x64
  store i{bits} {stored}, ptr %dp, align {align}
"""
_OFFSET_MOVE = """  %keep = icmp eq i64 %v, -1
  %moved = add i64 %v, %add
  %w = select i1 %keep, i64 %v, i64 %moved
"""
for _bits in (8, 32):
    _IR += index_loop(f"define void @scatter{_bits}(ptr %dst, ptr %idx, ptr %src, i64 %n)",
                      _SCATTER_BODY.format(bits=_bits, align=_bits // 8, adjust="", stored="%v"))
_IR += index_loop("define void @scatter64(ptr %dst, ptr %idx, ptr %src, i64 %n, i64 %add)",
                  _SCATTER_BODY.format(bits=64, align=8, adjust=_OFFSET_MOVE, stored="%w"))

# The summary's per-chunk counts (results.SummaryBuilder): how often each value occurs
# (values above `limit` share counts[limit]) and their sum.
_IR += index_loop("define i64 @tally(ptr %values, i64 %n, ptr %counts, i64 %limit)", """
  %vp = getelementptr i32, ptr %values, i64 %i
  %v = load i32, ptr %vp, align 4
  %v64 = zext i32 %v to i64
  %sum1 = add i64 %sum, %v64
  %big = icmp ugt i64 %v64, %limit
  %slot = select i1 %big, i64 %limit, i64 %v64
  %cp = getelementptr i64, ptr %counts, i64 %slot
  %c = load i64, ptr %cp, align 8
  %c1 = add i64 %c, 1
  store i64 %c1, ptr %cp, align 8
""", "ret i64 %sum", carried=(("sum", "i64", "0"),))
# Toeplitz: XOR of table[(position + k) * 256 + byte k] (rss.byte_table)
_TOEPLITZ_FOLD = r"""
  %b64 = zext i8 %b to i64
  %at = add i64 %position, %k
  %row = mul i64 %at, 256
  %ix = add i64 %row, %b64
  %tp = getelementptr i32, ptr %table, i64 %ix
  %t = load i32, ptr %tp, align 4
  %h1 = xor i32 %h, %t
"""
_IR += BE16_IR + OUTPUT_PACKET_IR + flow_walk_ir("flow_walk", "toeplitz")
_IR += step_ir("toeplitz", "the Toeplitz hash of count input bytes standing at position", _TOEPLITZ_FOLD)
_IR += SCANNER_IR  # the record walks (scan.py: classic pcap, pcapng packet blocks): one module holds every loop of a replay


P, I64, I32 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32
_SIGNATURES = {
    "emit": ctypes.CFUNCTYPE(I64, I64, P, P, I32, P, P, P, P, P, P, P, P, I64, P, P),
    "hashes": ctypes.CFUNCTYPE(None, P, P, P, I64, P, P),
    "assign": ctypes.CFUNCTYPE(None, P, P, P, I64, P, P, P),
    "pick": ctypes.CFUNCTYPE(I64, P, P, P, I64, I32, P, P, P),
    "scatter8": ctypes.CFUNCTYPE(None, P, P, P, I64),
    "scatter32": ctypes.CFUNCTYPE(None, P, P, P, I64),
    "scatter64": ctypes.CFUNCTYPE(None, P, P, P, I64, I64),
    "tally": ctypes.CFUNCTYPE(I64, P, I64, P, I64),
    **SCAN_SIGNATURES,
}

_compiled: dict[str, Any] = {}  # function name -> ctypes function; "code" keeps the code alive
_lock = threading.Lock()


def native():
    """{name: ctypes function} of the compiled loops (compiled on first use; the code is
    kept in the jit's persistent cache as a shared object, so later processes only load it)."""
    with _lock:
        if not _compiled:
            from ..runtime.jit.cache import ir_functions

            _compiled.update(ir_functions("replay kernels", _IR, _SIGNATURES))
    return _compiled


def address(values) -> int:
    """Address of an array's or a bytes-like buffer's first element (kept alive by the caller)."""
    if isinstance(values, array):
        return values.buffer_info()[0]
    return buffer_address(values)[0]


def pinned(buffer) -> tuple[int, object]:
    """(address, pin) of a bytes, bytearray or mmap; an empty buffer has address 0."""
    if len(buffer) == 0:
        return 0, None
    return buffer_address(buffer)


def scatter(dst: array, idx: array, src: array, add: int = 0) -> None:
    """dst[idx[i]] = src[i] (+ add for 8-byte offsets other than UNCHANGED); `idx` ascending,
    as rss.select makes it (so its last index bounds them all)."""
    if len(idx) != len(src) or (len(idx) and idx[-1] >= len(dst)):
        raise ValueError("scatter: index out of range")
    functions = native()
    if dst.itemsize == 8:
        functions["scatter64"](address(dst), address(idx), address(src), len(idx), add)
    else:
        name = {1: "scatter8", 4: "scatter32"}[dst.itemsize]
        functions[name](address(dst), address(idx), address(src), len(idx))


def tally(values: array, limit: int) -> tuple[list[int], int]:
    """(counts, total) of a 4-byte unsigned array: counts[v] for v < limit, counts[limit]
    how many are larger; total their sum."""
    if values.itemsize != 4 or values.typecode not in "IL":
        raise ValueError("tally: expected 4-byte unsigned values")
    counts = array("Q", [0]) * (limit + 1)
    total = native()["tally"](address(values), len(values), address(counts), limit) if len(values) else 0
    return list(counts), total
