"""Receive-side scaling for the host replay's `--queues`: Toeplitz over the flow, natively.

What a NIC hashes, the Toeplitz hash and the default indirection table are
platform/rss.py's (shared with the emulated NFP's datapath, which hashes the same
bytes with its firmware's CRC-32); this module adds the native per-capture loops:
the hash of every packet and the packets of one queue, from a table of each input
byte's contribution (Toeplitz is linear in the input bits).
"""

from __future__ import annotations

from array import array
from functools import lru_cache

from ..platform.rss import (  # noqa: F401 (re-exported: the host replay's RSS names)
    INDIRECTION_ENTRIES, KEY, L4_WITH_PORTS, MAX_QUEUES, hash_input, indirection_table, toeplitz,
)

MAX_INPUT = 36  # IPv6 addresses (32) + ports (4)


def flow_hash(packet: bytes) -> int:
    return toeplitz(hash_input(packet))


def queue_of(packet: bytes, queues: int) -> int:
    return indirection_table(queues)[flow_hash(packet) & (INDIRECTION_ENTRIES - 1)]


@lru_cache(maxsize=None)
def byte_table(key: bytes = KEY) -> array:
    """table[p * 256 + b]: the hash contribution of byte value b at input position p
    (Toeplitz is linear in the input bits), so the native loop does one XOR per byte.
    A set input bit i contributes the 32 key bits from bit i on (toeplitz() of that one
    bit); a row is built by doubling (values with bit j set = those without, XOR bit j's
    contribution), in ~1 ms where a loop over every bit of every value took ~20 ms."""
    key_int, key_bits = int.from_bytes(key, "big"), len(key) * 8
    table = array("I")
    for position in range(MAX_INPUT):
        row = [0]
        for bit in range(8):  # value bit 1 << bit is input bit 8 * position + 7 - bit
            contribution = (key_int >> (key_bits - 32 - (8 * position + 7 - bit))) & 0xFFFFFFFF
            row += [word ^ contribution for word in row]
        table.extend(row)
    return table


def native_hashes(buffer, offsets: array, lengths: array) -> array:
    """flow_hash of every packet, natively."""
    from .kernels import native, pinned

    out = array("I", [0]) * len(offsets)
    if len(offsets):
        base, _pin = pinned(buffer)
        table = byte_table()
        native()["hashes"](base, offsets.buffer_info()[0], lengths.buffer_info()[0], len(offsets),
                           table.buffer_info()[0], out.buffer_info()[0])
    return out


def select(buffer, offsets: array, lengths: array, queues: int, want: int) -> tuple[array, array, array]:
    """The packets RSS puts on queue `want` of `queues`: (their index in these arrays,
    their offsets, their lengths), in order, natively."""
    assigned = bytearray(len(offsets))
    assign(buffer, offsets, lengths, queues, assigned)
    return pick(assigned, offsets, lengths, want)


def assign(buffer, offsets: array, lengths: array, queues: int, out, start: int = 0, stop: int | None = None) -> None:
    """out[i] = the queue of packet i of `offsets`/`lengths`, for i in start..stop-1, natively
    (`out`: a writable buffer, e.g. memory shared by the queues' workers)."""
    from .kernels import address, native, pinned

    stop = len(offsets) if stop is None else stop
    if not 0 <= start <= stop <= min(len(offsets), len(lengths), len(out)):
        raise ValueError("rss.assign: range out of bounds")
    if stop == start:
        return
    base, _pin = pinned(buffer)
    target, _out_pin = pinned(out)
    native()["assign"](base, address(offsets) + 8 * start, address(lengths) + 4 * start, stop - start,
                       address(byte_table()), address(_reta(queues)), target + start)


def pick(assigned, offsets: array, lengths: array, want: int, count: int | None = None) -> tuple[array, array, array]:
    """The first `count` packets (all by default) whose assigned[i] is `want`: (their index,
    their offsets, their lengths), in order, natively."""
    from .kernels import address, native, pinned

    count = len(offsets) if count is None else count
    if count > min(len(offsets), len(lengths), len(assigned)):
        raise ValueError("rss.pick: count out of bounds")
    index, offs, lens = array("I", [0]) * count, array("Q", [0]) * count, array("I", [0]) * count
    if count:
        source, _pin = pinned(assigned)
        kept = native()["pick"](source, address(offsets), address(lengths), count, want,
                                address(index), address(offs), address(lens))
        for part in (index, offs, lens):
            del part[kept:]
    return index, offs, lens


@lru_cache(maxsize=None)
def _reta(queues: int) -> array:
    return array("B", indirection_table(queues))


def prepare(queues: int) -> None:
    """Build what `select` uses for `queues` (the byte table, the indirection table, the
    native loops) now: before worker processes are forked, so that none builds its own."""
    from .kernels import native

    byte_table()
    _reta(queues)
    native()
