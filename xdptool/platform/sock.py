"""struct bpf_sock as a program may read it through a socket pointer, as data.

Facts from Linux 6.12/6.18: the layout is include/uapi/linux/bpf.h's struct bpf_sock;
what may be read is net/core/filter.c bpf_sock_is_valid_access (sockets from
sk_lookup_tcp/udp) and bpf_sock_common_is_valid_access (sk_common from
skc_lookup_tcp: not type..priority).  Nothing may be written.
"""

from __future__ import annotations

SIZE = 80  # sizeof(struct bpf_sock)
FIELD = 4  # the default field size (__u32)
# read with any power-of-two size up to 4 (at a multiple of it): fields matched at their
# first byte (family, type, protocol, src_port, state, rx_queue_mapping) ...
_NARROW_AT = frozenset({4, 8, 12, 44, 72, 76})
# ... and the address fields at any byte (src_ip4, src_ip6[4]; dst_ip4, dst_ip6[4])
_NARROW_IN = ((24, 44), (52, 72))
_DST_PORT = (48, 50)  # __be16 dst_port: 1 or 2 bytes, or 4 bytes at 48
_DST_PORT_PAD = (50, 52)  # the 16 bits after dst_port: never
_COMMON_HIDDEN = (8, 24)  # type, protocol, mark, priority: not in a sock_common


def _pow2(size: int) -> bool:
    return size > 0 and not size & (size - 1)


def readable(off: int, size: int, common: bool) -> bool:
    """A `size`-byte read at `off` of a socket (`common`: a sock_common) is allowed;
    anything else is the default: a whole __u32 field."""
    if common and _COMMON_HIDDEN[0] <= off < _COMMON_HIDDEN[1]:
        return False
    if off < 0 or off >= SIZE or off % size:
        return False
    if off in _NARROW_AT or any(lo <= off < hi for lo, hi in _NARROW_IN):
        return size <= FIELD and _pow2(size)
    if _DST_PORT[0] <= off < _DST_PORT[1]:
        return size <= (FIELD if size == FIELD else 2) and _pow2(size)
    if _DST_PORT_PAD[0] <= off < _DST_PORT_PAD[1]:
        return False
    return size == FIELD


def xdp_sock_readable(off: int, size: int) -> bool:
    """struct bpf_xdp_sock (an xskmap element): only queue_id, a whole __u32 at 0
    (bpf_xdp_sock_is_valid_access)."""
    return off == 0 and size == FIELD
