"""BPF_PROG_TEST_RUN for XDP: one packet in, verdict and output bytes out.

The packet goes in as data_in with an `xdp_md` ctx_in carrying ingress_ifindex
and rx_queue_index (data = 0: no metadata, data_end = packet length, as
net/bpf/test_run.c `bpf_prog_test_run_xdp` requires; egress_ifindex must be 0,
and a non-zero ingress_ifindex must name an existing device whose rx queue count
exceeds rx_queue_index, else ENODEV/EINVAL).  data_out is sized for the largest
growth adjust_head/adjust_tail can make (headroom 256 + a page of tailroom), so
the run never has to be repeated because of ENOSPC — repeating would apply map
side effects twice.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

from ..errors import XdpError
from ..runtime.contract import XdpContext
from .syscall import BpfError, Cmd, TestRunAttr, XdpMd, bpf

XDP_PACKET_HEADROOM = 256
MIN_PACKET = 14  # ETH_HLEN: shorter packets get EINVAL from the kernel
OUT_SLACK = XDP_PACKET_HEADROOM + 4096


@dataclass
class TestRunOutput:
    __test__ = False  # not a pytest class

    retval: int
    data: bytes
    duration_ns: int  # mean per repetition, as the kernel reports it
    ctx: XdpMd
    meta: bytes = b""  # the metadata adjust_meta put in front of data


class TestRunner:
    """Reusable buffers for test-running one program fd many times."""

    __test__ = False

    def __init__(self, prog_fd: int, max_packet: int = 4096):
        self.prog_fd = prog_fd
        self._grow(max_packet)
        self.ctx_in = XdpMd()
        self.ctx_out = XdpMd()

    def _grow(self, size: int) -> None:
        self.capacity = size
        self.out = ctypes.create_string_buffer(size + OUT_SLACK)

    def run(self, packet: bytes, ctx: XdpContext | None = None, repeat: int = 1) -> TestRunOutput:
        if len(packet) < MIN_PACKET:
            raise XdpError(f"the kernel test-runs XDP only on packets of at least {MIN_PACKET} bytes, got {len(packet)}")
        if len(packet) > self.capacity:
            self._grow(len(packet))
        ctx = ctx or XdpContext()
        if ctx.egress_ifindex:
            raise XdpError("the kernel test run does not take an egress_ifindex in xdp_md")
        self.ctx_in.data, self.ctx_in.data_end, self.ctx_in.data_meta = 0, len(packet), 0
        self.ctx_in.ingress_ifindex, self.ctx_in.rx_queue_index = ctx.ingress_ifindex, ctx.rx_queue_index
        data_in = ctypes.create_string_buffer(packet, len(packet))
        attr = TestRunAttr(
            prog_fd=self.prog_fd,
            data_size_in=len(packet),
            data_size_out=len(self.out),
            data_in=ctypes.addressof(data_in),
            data_out=ctypes.addressof(self.out),
            repeat=repeat,
            ctx_size_in=ctypes.sizeof(XdpMd),
            ctx_size_out=ctypes.sizeof(XdpMd),
            ctx_in=ctypes.addressof(self.ctx_in),
            ctx_out=ctypes.addressof(self.ctx_out),
        )
        try:
            bpf(Cmd.PROG_TEST_RUN, attr)
        except BpfError as err:
            if err.errno == 19:  # ENODEV
                raise XdpError(f"kernel test run: no network device with ifindex {ctx.ingress_ifindex}") from None
            raise
        out_ctx = XdpMd.from_buffer_copy(self.ctx_out)
        # data_out starts at data_meta and ctx_out.data is the metadata's length
        # (net/bpf/test_run.c: xdp_convert_buff_to_md); engines report the frame
        # from data on, what goes on the wire, so the metadata is cut off here.
        frame = self.out.raw[out_ctx.data : attr.data_size_out]
        meta = self.out.raw[: out_ctx.data]
        return TestRunOutput(attr.retval, frame, attr.duration, out_ctx, meta)


def test_run(prog_fd: int, packet: bytes, ctx: XdpContext | None = None, repeat: int = 1) -> TestRunOutput:
    """One BPF_PROG_TEST_RUN of an XDP program fd."""
    return TestRunner(prog_fd, len(packet)).run(packet, ctx, repeat)


test_run.__test__ = False  # type: ignore[attr-defined]
