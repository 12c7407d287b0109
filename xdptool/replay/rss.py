"""Receive-side scaling: which receive queue a multi-queue NIC hands a packet to.

The hash is Toeplitz (Microsoft's "RSS hashing functions"; the function the
kernel's and most NICs' RSS use) over the flow's addresses and ports, keyed by
the 40-byte key of Microsoft's "Verifying the RSS Hash Calculation" page: the
key whose published results the tests check.  The kernel's own default key
(netdev_rss_key, net/core/ethtool.c) is random per boot, so no fixed key can be
"the kernel's"; this one is stated, fixed, and the one NIC vendors test with.

Hash input (the usual defaults of `ethtool -n ethX rx-flow-hash tcp4|udp4|...`):
- IPv4 / IPv6 with TCP or UDP, not a fragment: source address, destination
  address, source port, destination port (network byte order);
- any other IPv4 / IPv6 packet (and IPv4 fragments): the two addresses;
- anything else (ARP, runts, non-IP): hash 0, so queue 0, as NICs do for
  traffic they cannot hash.
One 802.1Q or 802.1ad tag is skipped; IPv6 extension headers are not walked.

Queue = indirection table[hash & 127], the table having 128 entries filled
round robin (entry i -> queue i % N), as the kernel's ethtool_rxfh_indir_default()
fills a driver's table (include/linux/ethtool.h); for N a power of two that is
hash % N.
"""

from __future__ import annotations

import struct
from array import array
from functools import lru_cache

# Microsoft, "Verifying the RSS Hash Calculation" (learn.microsoft.com, windows-hardware/drivers/network).
KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)
INDIRECTION_ENTRIES = 128
MAX_INPUT = 36  # IPv6 addresses (32) + ports (4)
MAX_QUEUES = 256  # a queue number is one byte in the indirection table

ETH_P_IP, ETH_P_IPV6, VLAN_TAGS = 0x0800, 0x86DD, (0x8100, 0x88A8)
L4_WITH_PORTS = (6, 17)  # TCP, UDP


def toeplitz(data: bytes, key: bytes = KEY) -> int:
    """The Toeplitz hash by its definition: for every set bit of the input (most
    significant first), XOR in the 32 key bits starting at that bit's position."""
    key_int, key_bits = int.from_bytes(key, "big"), len(key) * 8
    result = 0
    for position in range(len(data) * 8):
        if data[position // 8] >> (7 - position % 8) & 1:
            result ^= (key_int >> (key_bits - 32 - position)) & 0xFFFFFFFF
    return result


def hash_input(packet: bytes) -> bytes:
    """The bytes a NIC hashes for this frame (see the module docstring); b"" if none."""
    if len(packet) < 14:
        return b""
    (ethertype,) = struct.unpack_from("!H", packet, 12)
    l3 = 14
    if ethertype in VLAN_TAGS:
        if len(packet) < 18:
            return b""
        (ethertype,) = struct.unpack_from("!H", packet, 16)
        l3 = 18
    if ethertype == ETH_P_IP:
        if len(packet) < l3 + 20 or packet[l3] >> 4 != 4 or (packet[l3] & 15) * 4 < 20:
            return b""
        addresses, proto = packet[l3 + 12 : l3 + 20], packet[l3 + 9]
        whole = struct.unpack_from("!H", packet, l3 + 6)[0] & 0x3FFF == 0
        l4 = l3 + (packet[l3] & 15) * 4
    elif ethertype == ETH_P_IPV6:
        if len(packet) < l3 + 40 or packet[l3] >> 4 != 6:
            return b""
        addresses, proto, whole, l4 = packet[l3 + 8 : l3 + 40], packet[l3 + 6], True, l3 + 40
    else:
        return b""
    if proto in L4_WITH_PORTS and whole and l4 + 4 <= len(packet):
        return addresses + packet[l4 : l4 + 4]
    return addresses


def flow_hash(packet: bytes) -> int:
    return toeplitz(hash_input(packet))


def indirection_table(queues: int) -> bytes:
    """ethtool_rxfh_indir_default: entry i -> queue i % queues."""
    if not 1 <= queues <= MAX_QUEUES:
        raise ValueError(f"queues must be 1..{MAX_QUEUES}")
    return bytes(i % queues for i in range(INDIRECTION_ENTRIES))


def queue_of(packet: bytes, queues: int) -> int:
    return indirection_table(queues)[flow_hash(packet) & (INDIRECTION_ENTRIES - 1)]


@lru_cache(maxsize=None)
def byte_table(key: bytes = KEY) -> array:
    """table[p * 256 + b]: the hash contribution of byte value b at input position p
    (Toeplitz is linear in the input bits), so the native loop does one XOR per byte."""
    table = array("I", [0]) * (MAX_INPUT * 256)
    for position in range(MAX_INPUT):
        bits = [toeplitz(bytes(position) + bytes([0x80 >> bit]), key) for bit in range(8)]
        for value in range(256):
            word = 0
            for bit in range(8):
                if value & (0x80 >> bit):
                    word ^= bits[bit]
            table[position * 256 + value] = word
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
    from .kernels import native, pinned

    count = len(offsets)
    index, offs, lens = array("I", [0]) * count, array("Q", [0]) * count, array("I", [0]) * count
    if count:
        base, _pin = pinned(buffer)
        table, reta = byte_table(), _reta(queues)
        kept = native()["select"](base, offsets.buffer_info()[0], lengths.buffer_info()[0], count,
                                  table.buffer_info()[0], reta.buffer_info()[0], want,
                                  index.buffer_info()[0], offs.buffer_info()[0], lens.buffer_info()[0])
        for part in (index, offs, lens):
            del part[kept:]
    return index, offs, lens


@lru_cache(maxsize=None)
def _reta(queues: int) -> array:
    return array("B", indirection_table(queues))
