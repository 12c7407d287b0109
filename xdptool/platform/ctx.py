"""The XDP program context, `struct xdp_md`, as data.

Every consumer derives its view from `XDP_MD`: the runtime's context reads, the
verifier's ctx access rule, the JIT's context block, the kernel engine's ctypes
struct, the spec keys a test may set, and the NFP lowering.

Facts: include/uapi/linux/bpf.h (`struct xdp_md`, all __u32) and
net/core/filter.c `xdp_is_valid_access` (Linux 6.18): only 4-byte reads;
`egress_ifindex` is readable only by programs attached with
BPF_XDP_DEVMAP; no field is writable by a host program, while an offloaded
program may write `rx_queue_index` (queue selection; the nfp JIT's
`nfp_queue_select`, drivers/net/ethernet/netronome/nfp/bpf/jit.c).
"""


import enum
from typing import NamedTuple

from .programs import AttachType


class CtxKind(enum.Enum):
    """What a 4-byte read of the field gives a program."""

    PACKET = "pkt"  # pointer to the first packet byte (data)
    PACKET_END = "pkt_end"  # pointer one past the last packet byte (data_end)
    PACKET_META = "pkt_meta"  # pointer to the metadata in front of the packet (data_meta)
    SCALAR = "scalar"  # a u32 value


class XdpAttach(enum.IntEnum):
    """expected_attach_type values an XDP program can carry (enum bpf_attach_type)."""

    XDP = AttachType.XDP  # a device's XDP hook
    CPUMAP = AttachType.XDP_CPUMAP  # runs on the CPU a cpumap redirected to
    DEVMAP = AttachType.XDP_DEVMAP  # runs before transmit on the device a devmap redirected to


class CtxField(NamedTuple):
    """One xdp_md field: where it is, what a read gives, who may read or write it."""

    name: str
    offset: int
    kind: CtxKind
    readable_by: frozenset[XdpAttach] = frozenset(XdpAttach)
    offload_writable: bool = False  # the nfp driver lets an offloaded program write it

    @property
    def is_pointer(self) -> bool:
        return self.kind is not CtxKind.SCALAR


XDP_MD: tuple[CtxField, ...] = (
    CtxField("data", 0, CtxKind.PACKET),
    CtxField("data_end", 4, CtxKind.PACKET_END),
    CtxField("data_meta", 8, CtxKind.PACKET_META),
    CtxField("ingress_ifindex", 12, CtxKind.SCALAR),
    CtxField("rx_queue_index", 16, CtxKind.SCALAR, offload_writable=True),
    CtxField("egress_ifindex", 20, CtxKind.SCALAR, readable_by=frozenset({XdpAttach.DEVMAP})),
)
FIELD_SIZE = 4
XDP_MD_SIZE = FIELD_SIZE * len(XDP_MD)
BY_OFFSET: dict[int, CtxField] = {f.offset: f for f in XDP_MD}
BY_NAME: dict[str, CtxField] = {f.name: f for f in XDP_MD}
SCALAR_FIELDS: tuple[str, ...] = tuple(f.name for f in XDP_MD if not f.is_pointer)


def readable(offset: int, size: int, attach: XdpAttach = XdpAttach.XDP) -> CtxField | None:
    """The field a `size`-byte read at `offset` gives, or None when xdp_is_valid_access refuses it."""
    found = BY_OFFSET.get(offset) if size == FIELD_SIZE else None
    return found if found is not None and attach in found.readable_by else None


_ATTACH_BY_VALUE = {int(a): a for a in XdpAttach}  # (a lookup: no ValueError raised for the usual 0)


def attach_of(expected_attach_type: int) -> XdpAttach:
    """The XDP hook a program's expected_attach_type selects (0 and unknown values: the device hook)."""
    return _ATTACH_BY_VALUE.get(expected_attach_type, XdpAttach.XDP)
