"""Kernel behaviour xdptool relies on, asserted on the live kernel (documented in xdptool.kernel).

Each test loads a tiny hand-assembled XDP program and checks what BPF_PROG_TEST_RUN
does with it, so a kernel that behaves differently fails here first.
"""

from __future__ import annotations

import ctypes
import os

import pytest

from xdptool.ebpf.insn import Instruction, alu, exit_insn, ld_imm64
from xdptool.ebpf.opcodes import AluOp, Cls, JmpOp, Mode, Size
from xdptool.elf.model import MapDef, MapType
from xdptool.kernel.load import load_program
from xdptool.kernel.maps import KernelMaps, parse_cpu_list, possible_cpus
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.kernel.synthetic import map_ref, synthetic_program
from xdptool.kernel.syscall import BpfError, Cmd, TestRunAttr, bpf
from xdptool.kernel.testrun import test_run

_REASON = kernel_unavailable_reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(_REASON is not None, reason=f"kernel: {_REASON}")]

HELPER = {"map_lookup_elem": 1, "redirect": 23, "xdp_adjust_head": 44, "redirect_map": 51, "xdp_adjust_tail": 65}
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)
PACKET = bytes(range(1, 21))


def mov(dst: int, imm: int) -> Instruction:
    return alu(AluOp.MOV, dst, imm=imm)


def call(helper: str) -> Instruction:
    return Instruction(code=Cls.JMP | JmpOp.CALL, imm=HELPER[helper])


def run_program(insns, maps=(), packet=PACKET, setup=None):
    """Load insns as XDP with `maps`, optionally prepare the maps, test-run one packet."""
    program = synthetic_program(insns, list(maps))
    with KernelMaps(list(maps)) as kmaps:
        if setup:
            setup(kmaps)
        with load_program(program, kmaps.fds()) as loaded:
            return test_run(loaded.fd, packet)


def raw_test_run_errno(prog_fd: int, packet: bytes) -> int:
    """errno of a PROG_TEST_RUN that bypasses xdptool's own length check (0 on success)."""
    data = ctypes.create_string_buffer(packet, max(len(packet), 1))
    out = ctypes.create_string_buffer(4096)
    attr = TestRunAttr(prog_fd=prog_fd, data_size_in=len(packet), data_in=ctypes.addressof(data),
                       data_out=ctypes.addressof(out), data_size_out=len(out), repeat=1)
    try:
        bpf(Cmd.PROG_TEST_RUN, attr)
    except BpfError as err:
        return err.errno
    return 0


def test_packets_under_14_bytes_get_einval():
    program = synthetic_program([mov(0, XDP_PASS), exit_insn()])
    with load_program(program, {}) as loaded:
        assert raw_test_run_errno(loaded.fd, bytes(13)) == 22  # EINVAL
        assert raw_test_run_errno(loaded.fd, b"") == 22
        assert raw_test_run_errno(loaded.fd, bytes(14)) == 0


@pytest.mark.parametrize("verdict", [XDP_TX, XDP_REDIRECT, 7])
def test_tx_and_redirect_are_returned_not_sent(verdict):
    result = run_program([mov(0, verdict), exit_insn()])
    assert result.retval == verdict  # return values are not range-checked either
    assert result.data == PACKET


@pytest.mark.parametrize("flags,expected", [(0, XDP_REDIRECT), (1, XDP_ABORTED)])
def test_bpf_redirect_return_value(flags, expected):
    """bpf_redirect(ifindex, flags): XDP_REDIRECT, or XDP_ABORTED for any non-zero flags."""
    result = run_program([mov(1, 5), mov(2, flags), call("redirect"), exit_insn()])
    assert result.retval == expected


DEVMAP = MapDef("devs", MapType.DEVMAP, 4, 4, 4)


def redirect_map_program(key: int, flags: int) -> list[Instruction]:
    return [map_ref(ld_imm64(1, 0), "devs"), mov(2, key), mov(3, flags), call("redirect_map"), exit_insn()]


@pytest.mark.parametrize("key", [0, 3, 9])  # empty slot, last slot, out of range
@pytest.mark.parametrize("flags", [0, 1, 2, 3])
def test_redirect_map_missing_key_returns_the_fallback_action(key, flags):
    """bpf_redirect_map on an absent devmap key returns the low bits of flags (BPF_F_ACTION_MASK)."""
    result = run_program(redirect_map_program(key, flags), [DEVMAP])
    assert result.retval == flags


@pytest.mark.parametrize("flags", [0, 2])
def test_redirect_map_present_key_returns_redirect(flags):
    loopback = (1).to_bytes(4, "little")
    result = run_program(redirect_map_program(1, flags), [DEVMAP],
                         setup=lambda kmaps: kmaps["devs"].update((1).to_bytes(4, "little"), loopback))
    assert result.retval == XDP_REDIRECT
    assert result.data == PACKET


def adjust(helper: str, delta: int) -> list[Instruction]:
    return [mov(2, delta), call(helper), mov(0, XDP_PASS), exit_insn()]


@pytest.mark.parametrize(
    "helper,delta,expected",
    [
        ("xdp_adjust_head", -4, bytes(4) + PACKET),  # grown front: zeroed headroom
        ("xdp_adjust_head", 4, PACKET[4:]),
        ("xdp_adjust_tail", -4, PACKET[:-4]),
        ("xdp_adjust_tail", 4, PACKET + bytes(4)),  # grown tail is cleared by the kernel
        ("xdp_adjust_head", -300, PACKET),  # beyond the 256-byte headroom: refused, unchanged
        ("xdp_adjust_tail", 5000, PACKET),  # beyond the frame: refused, unchanged
        ("xdp_adjust_head", 6, PACKET[6:]),  # leaves exactly ETH_HLEN bytes: allowed
        ("xdp_adjust_head", 7, PACKET),  # would leave 13 bytes (< ETH_HLEN): refused, unchanged
    ],
)
def test_data_out_after_adjust(helper, delta, expected):
    assert run_program(adjust(helper, delta)).data == expected


def test_possible_cpus_matches_sysfs():
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read()
    assert possible_cpus() == len(parse_cpu_list(text)) >= 1
    assert parse_cpu_list("0-3,5,7-8\n") == [0, 1, 2, 3, 5, 7, 8]


PERCPU = MapDef("counts", MapType.PERCPU_ARRAY, 4, 12, 1)  # 12: exercises the 8-byte rounding


def count_on_this_cpu() -> list[Instruction]:
    """counts[0] += 1 (first u64 of the per-CPU value)."""
    return [
        Instruction(code=Cls.ST | Mode.MEM | Size.W, dst=10, off=-4, imm=0),
        alu(AluOp.MOV, 2, src=10),
        alu(AluOp.ADD, 2, imm=-4),
        map_ref(ld_imm64(1, 0), "counts"),
        call("map_lookup_elem"),
        Instruction(code=Cls.JMP | JmpOp.JEQ, dst=0, off=3, imm=0),
        Instruction(code=Cls.LDX | Mode.MEM | Size.DW, dst=1, src=0),
        alu(AluOp.ADD, 1, imm=1),
        Instruction(code=Cls.STX | Mode.MEM | Size.DW, dst=0, src=1),
        mov(0, XDP_PASS),
        exit_insn(),
    ]


def test_percpu_map_has_one_value_per_possible_cpu():
    allowed = sorted(os.sched_getaffinity(0))
    program = synthetic_program(count_on_this_cpu(), [PERCPU])
    before = os.sched_getaffinity(0)
    with KernelMaps([PERCPU]) as kmaps, load_program(program, kmaps.fds()) as loaded:
        values = kmaps["counts"].lookup(bytes(4))
        assert len(values) == possible_cpus() and all(v == bytes(12) for v in values)
        try:
            for cpu in allowed:
                os.sched_setaffinity(0, {cpu})
                test_run(loaded.fd, PACKET)
                test_run(loaded.fd, PACKET)
        finally:
            os.sched_setaffinity(0, before)
        values = kmaps["counts"].lookup(bytes(4))
    counts = [int.from_bytes(v[:8], "little") for v in values]
    assert counts == [2 if cpu in allowed else 0 for cpu in range(possible_cpus())]
