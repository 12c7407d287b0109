"""The XDP datapath model: the frame, its data/data_end/data_meta, and xdp_md.

A frame is laid out as the kernel's BPF_PROG_TEST_RUN lays it out (net/bpf/test_run.c):

    0            XDP_FRAME_SIZE         headroom          data_end    hard_end   frame_size
    |xdp_frame     |  free headroom  |meta|  packet data  | tailroom |skb_shared_info|

data starts at `headroom` (XDP_PACKET_HEADROOM = 256); data_meta == data until
bpf_xdp_adjust_meta grows metadata in front of the packet.  The three adjust
operations follow net/core/filter.c (Linux 6.18) and return the kernel's errno;
the limits were also measured on 6.18 with BPF_PROG_TEST_RUN (head may grow by
216 = 256 - sizeof(struct xdp_frame); a 64-byte packet may grow its tail by 3456).

The frame is zero-filled for every packet (bpf_test_init uses kzalloc), so
bytes uncovered by adjust_head/adjust_tail read as zero, as in the kernel.
A packet longer than the frame allows gets a larger frame (the kernel would
need multi-buffer frags for it); the tailroom limit then applies to that frame.
"""

from __future__ import annotations

import errno

from .config import ETH_HLEN, SKB_SHARED_INFO_TAILROOM, XDP_FRAME_SIZE, RuntimeConfig
from .contract import XdpContext
from .memory import MemoryFault
from ..platform.ctx import BY_NAME, BY_OFFSET, FIELD_SIZE

# include/net/xdp.h xdp_metalen_invalid(): a multiple of 4 and at most
# type_max(skb_shared_info.meta_len), a u8 => 255 (Linux >= 6.x; was 32 before).
XDP_META_MAX = 255



class XdpBuffer:
    """One frame and its pointers (as offsets into `frame`)."""

    def __init__(self, config: RuntimeConfig | None = None):
        self.config = config or RuntimeConfig()
        self.headroom = self.config.headroom
        self._alloc(self.config.frame_size)
        self.data = self.data_end = self.data_meta = self.headroom
        self.ctx = XdpContext()

    def _alloc(self, frame_size: int) -> None:
        self.frame_size = frame_size
        self.frame = bytearray(frame_size)
        self.hard_end = frame_size - SKB_SHARED_INFO_TAILROOM

    def reset(self, packet: bytes, ctx: XdpContext | None = None) -> None:
        """Load a packet into a fresh zeroed frame."""
        needed = self.headroom + len(packet) + SKB_SHARED_INFO_TAILROOM
        if needed > self.frame_size or self.frame_size != max(needed, self.config.frame_size):
            self._alloc(max(needed, self.config.frame_size))
        else:
            self.frame[:] = bytes(self.frame_size)
        self.data = self.data_meta = self.headroom
        self.data_end = self.headroom + len(packet)
        self.frame[self.data:self.data_end] = packet
        self.ctx = ctx or XdpContext()

    # -- views -------------------------------------------------------------
    @property
    def packet(self) -> bytes:
        return bytes(self.frame[self.data:self.data_end])

    @property
    def meta(self) -> bytes:
        return bytes(self.frame[self.data_meta:self.data])

    @property
    def length(self) -> int:
        return self.data_end - self.data

    # -- bpf_xdp_adjust_* (net/core/filter.c) ------------------------------------
    def adjust_head(self, offset: int) -> int:
        """bpf_xdp_adjust_head: move data by `offset`; metadata moves with it."""
        metalen = self.data - self.data_meta
        new_data = self.data + offset
        if new_data < XDP_FRAME_SIZE + metalen or new_data > self.data_end - ETH_HLEN:
            return -errno.EINVAL
        if metalen:
            self.frame[self.data_meta + offset:new_data] = self.frame[self.data_meta:self.data]
        self.data_meta += offset
        self.data = new_data
        return 0

    def adjust_tail(self, offset: int) -> int:
        """bpf_xdp_adjust_tail: move data_end; grown bytes are zeroed."""
        new_end = self.data_end + offset
        if new_end > self.hard_end or new_end < self.data + ETH_HLEN:
            return -errno.EINVAL
        if offset > 0:
            self.frame[self.data_end:new_end] = bytes(offset)
        self.data_end = new_end
        return 0

    def adjust_meta(self, offset: int) -> int:
        """bpf_xdp_adjust_meta: move data_meta; metadata length a multiple of 4, <= 255."""
        meta = self.data_meta + offset
        if meta < XDP_FRAME_SIZE or meta > self.data:
            return -errno.EINVAL
        metalen = self.data - meta
        if metalen % 4 or metalen > XDP_META_MAX:
            return -errno.EACCES
        self.data_meta = meta
        return 0

    # -- bpf_xdp_load_bytes / store_bytes (linear buffers) -------------------------
    def check_span(self, offset: int, length: int) -> int:
        """0 or the errno bpf_xdp_pointer() gives for [offset, offset+length) of the packet."""
        if offset > 0xFFFF or length > 0xFFFF:
            return -errno.EFAULT
        if offset + length > self.length:
            return -errno.EINVAL
        return 0

    # -- xdp_md ------------------------------------------------------------------
    def md_field(self, offset: int, size: int) -> str:
        """The field a context read addresses, or MemoryFault (kernel: __is_valid_xdp_access)."""
        field = BY_OFFSET.get(offset) if size == FIELD_SIZE else None
        if field is None:
            raise MemoryFault(f"invalid xdp_md access off={offset} size={size}", None, "ctx")
        return field.name

    def md_value(self, name: str, packet_base: int) -> int:
        """Value of an xdp_md field; pointer fields are addresses in the packet region."""
        if BY_NAME[name].is_pointer:
            return packet_base + getattr(self, name)
        return getattr(self.ctx, name) & 0xFFFFFFFF
