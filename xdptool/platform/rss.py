"""Receive-side scaling as NICs define it: which header bytes a flow hash covers, and the hashes.

What a NIC hashes (the usual defaults of `ethtool -n ethX rx-flow-hash tcp4|udp4|...`,
and what Netronome's CoreNIC firmware hashes, firmware/apps/nic/actions.uc __actions_rss):
- IPv4 / IPv6 with TCP or UDP, not a fragment: source address, destination
  address, source port, destination port (network byte order);
- any other IPv4 / IPv6 packet (and IPv4 fragments): the two addresses;
- anything else (ARP, runts, non-IP): nothing, so hash 0 / queue 0, as NICs do for
  traffic they cannot hash.
One 802.1Q or 802.1ad tag is skipped; IPv6 extension headers are not walked.

Two hash functions over those bytes:
- Toeplitz (Microsoft's "RSS hashing functions"), keyed by the 40-byte key of
  Microsoft's "Verifying the RSS Hash Calculation" page, whose published results
  the tests check.  The kernel's own default key (netdev_rss_key, net/core/ethtool.c)
  is random per boot, so no fixed key can be "the kernel's"; this one is stated, fixed,
  and the one NIC vendors test with.  The host replay's `--queues` uses it.
- CRC-32 (`crc32_be`), the NFP CoreNIC firmware's: nfd_user_cfg.h NFD_RSS_HASH_FUNC is
  NFP_NET_CFG_RSS_CRC32, and __actions_rss runs the microengine's CRC unit (crc_be
  crc_32: polynomial 0x04C11DB7, most significant bit first, no reflection, no final
  XOR) over the same words, starting from a 32-bit key word as the remainder.

Queue = indirection table[hash & 127], the table having 128 entries filled round
robin (entry i -> queue i % N), as the kernel's ethtool_rxfh_indir_default() fills a
driver's table (include/linux/ethtool.h; the nfp driver's nfp_net_rss_init_itbl).
"""

from __future__ import annotations

import struct
from functools import lru_cache

# Microsoft, "Verifying the RSS Hash Calculation" (learn.microsoft.com, windows-hardware/drivers/network).
KEY = bytes.fromhex(
    "6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa"
)
INDIRECTION_ENTRIES = 128  # NFP_NET_CFG_RSS_ITBL_SZ too
MAX_QUEUES = 256  # a queue number is one byte in the indirection table

ETH_P_IP, ETH_P_IPV6, VLAN_TAGS = 0x0800, 0x86DD, (0x8100, 0x88A8)
L4_WITH_PORTS = (6, 17)  # TCP, UDP
CRC32_POLY = 0x04C11DB7  # the CRC unit's crc_32 (IEEE 802.3 polynomial, not reflected)


def toeplitz(data: bytes, key: bytes = KEY) -> int:
    """The Toeplitz hash by its definition: for every set bit of the input (most
    significant first), XOR in the 32 key bits starting at that bit's position."""
    key_int, key_bits = int.from_bytes(key, "big"), len(key) * 8
    result = 0
    for position in range(len(data) * 8):
        if data[position // 8] >> (7 - position % 8) & 1:
            result ^= (key_int >> (key_bits - 32 - position)) & 0xFFFFFFFF
    return result


@lru_cache(maxsize=1)
def crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ CRC32_POLY) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
        table.append(crc)
    return tuple(table)


def crc32_be(data: bytes, remainder: int) -> int:
    """CRC-32 most significant bit first from `remainder`, no final XOR: what the NFP's CRC
    unit leaves in CRC_REMAINDER after crc_be[crc_32, ...] over `data`'s words."""
    table, crc = crc_table(), remainder & 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


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


def indirection_table(queues: int) -> bytes:
    """ethtool_rxfh_indir_default: entry i -> queue i % queues."""
    if not 1 <= queues <= MAX_QUEUES:
        raise ValueError(f"queues must be 1..{MAX_QUEUES}")
    return bytes(i % queues for i in range(INDIRECTION_ENTRIES))
