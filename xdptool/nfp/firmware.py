"""The firmware routines the offloaded program branches to, and their calling conventions.

`CARD_ROUTINES` are the shipping firmware's, on abi.py's ABI (both images run
them).  The rest of this module is the what-if allocator's own convention [inv],
kept until its lowering moves onto the card's ABI:

The card's firmware (not the program) owns map storage, packet headroom and
the datapath; the program reaches it by branching to a routine outside its own
window, as the kernel's JIT does (bpf/jit.c map_call_stack_common: key through
LM pointer 0, map id in A0, return address in B0).  Our convention [inv]:

    A0   in: map id | flags << 16 (update) | key byte << 24 | value byte << 26
             (the key/value start that many bytes into the LM word the pointer
             names: LM is word-addressed), or the delta (adjust_head/tail), or
             R0's low half (exit)
         out: result low half (EMEM address of the value or 0; 0 or -errno)
    B0   in: return address (an `immed` in the branch's defer slot);
             R0's high half for exit
         out: result high half
    LM pointer 2: the key (map routines); LM pointer 3: the value (update)

Routines read and write only A0/B0, the LM they are pointed at, maps and the
packet; every other register survives the call.  `exit` does not return: it
hands the verdict to the datapath (0..3 = ABORTED/DROP/PASS/TX; anything else
aborts: the card cannot redirect).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import abi
from .registers import MASK32, Gpr

FLAGS_SHIFT, KEY_BYTE_SHIFT, VALUE_BYTE_SHIFT = 16, 24, 26
FW_BASE = 0x1F00  # routines live in the control store above the program's window [inv]
A0, B0 = Gpr("A", 0), Gpr("B", 0)


@dataclass(frozen=True)
class Routine:
    name: str
    address: int
    uses_key: bool = False
    uses_value: bool = False
    returns: bool = True  # (its cost: card.py)


ROUTINES = {
    r.name: r
    for r in (
        Routine("map_lookup", FW_BASE + 0x00, uses_key=True),
        Routine("map_update", FW_BASE + 0x10, uses_key=True, uses_value=True),
        Routine("map_delete", FW_BASE + 0x20, uses_key=True),
        Routine("adjust_head", FW_BASE + 0x30),
        # bpf/jit.c: a program's only adjust_head, with a constant delta the firmware
        # guarantees room for, takes a 5-cycle path instead of the general 14-cycle one
        Routine("adjust_head_fast", FW_BASE + 0x60),
        Routine("adjust_tail", FW_BASE + 0x40),
        Routine("exit", FW_BASE + 0x50, returns=False),
    )
}
BY_ADDRESS = {r.address: r for r in ROUTINES.values()}
SYMBOLS = {f"fw.{name}": r.address for name, r in ROUTINES.items()}
ADJUST_HEAD_FAST_RANGE = (-84, 112)  # nfp-facts: the guaranteed headroom / minimum packet
# helper (platform/helpers.py name) -> the firmware routine that implements it
HELPER_ROUTINES = {"map_lookup_elem": "map_lookup", "map_update_elem": "map_update", "map_delete_elem": "map_delete",
                   "xdp_adjust_head": "adjust_head", "xdp_adjust_tail": "adjust_tail"}


def _signed(value: int) -> int:
    return value - (1 << 32) if value & 0x80000000 else value


def _result(machine, value: int) -> None:
    value &= (1 << 64) - 1
    machine.write_reg(A0, value & MASK32)
    machine.write_reg(B0, value >> 32)


def map_args(machine):
    """(map, flags, key bytes, value bytes or None) from A0 and LM pointers 2/3."""
    arg = machine.read_reg(A0)
    m = machine.map_by_id(arg & 0xFFFF)
    flags = (arg >> FLAGS_SHIFT) & 0xFF
    key = machine.fw_lm(2, m.key_size, (arg >> KEY_BYTE_SHIFT) & 3)
    return m, flags, key, (arg >> VALUE_BYTE_SHIFT) & 3


def map_lookup(machine) -> None:
    m, _, key, _ = map_args(machine)
    offset = m.lookup_offset(key, machine.config.cpu)
    _result(machine, 0 if offset is None else machine.map_address(m, offset))


def map_update(machine) -> None:
    m, flags, key, value_byte = map_args(machine)
    value = machine.fw_lm(3, m.value_size, value_byte)
    _result(machine, m.update(key, value, flags, cpu=machine.config.cpu))


def map_delete(machine) -> None:
    m, _, key, _ = map_args(machine)
    _result(machine, m.delete(key))


def card_adjust_refusal(machine, method: str, delta: int) -> bool:
    """What the card refuses that the host allows (abi.py; jit.c adjust_head / adjust_tail emit
    these checks inline): a head outside the firmware's 44..248-byte window of the packet buffer,
    a tail that does not shrink, fewer than ETH_HLEN bytes left."""
    length = machine.xdp.data_end - machine.xdp.data
    if method == "adjust_tail":
        return delta >= 0 or length + delta < abi.ETH_HLEN
    offset = abi.PACKET_START + machine.xdp.data - machine.xdp.headroom + delta
    return not abi.ADJUST_HEAD_OFF_MIN <= offset <= abi.ADJUST_HEAD_OFF_MAX or length - delta < abi.ETH_HLEN


def _adjust(method: str) -> Callable:
    def routine(machine) -> None:
        delta = _signed(machine.read_reg(A0))
        err = -22 if card_adjust_refusal(machine, method, delta) else getattr(machine.xdp, method)(delta)
        machine.packet_moved()
        _result(machine, err)

    return routine


IMPLEMENTATIONS: dict[str, Callable] = {
    "map_lookup": map_lookup,
    "map_update": map_update,
    "map_delete": map_delete,
    "adjust_head": _adjust("adjust_head"),
    "adjust_head_fast": _adjust("adjust_head"),
    "adjust_tail": _adjust("adjust_tail"),
}


# -- the card's routines (abi.py): map id in A0, key at LM pointer 0, value at LM pointer 2,
# R4 (flags) in GPR 8, R0 back in A0/B0 (low) and A1/B1 (high) - the executor writes those
def _card_key(machine, m) -> bytes:
    return machine.fw_lm(0, m.key_size)


def _card_map(machine):
    return machine.map_by_id(machine.read_reg(Gpr("A", 0)))


def card_lookup(machine) -> int:
    m = _card_map(machine)
    offset = m.lookup_offset(_card_key(machine, m), machine.config.cpu)
    return 0 if offset is None else machine.map_address(m, offset)


def card_update(machine) -> int:
    m = _card_map(machine)
    flags = machine.read_reg(Gpr("A", 8))  # R4's low word [inv: the firmware's draft ignores flags]
    return m.update(_card_key(machine, m), machine.fw_lm(2, m.value_size), flags, cpu=machine.config.cpu)


def card_delete(machine) -> int:
    m = _card_map(machine)
    return m.delete(_card_key(machine, m))


def card_perf_event_output(machine) -> int:
    """The record (R4, R5 bytes: on the stack or in the packet) and the first flags[51:32] packet
    bytes, as the host's bpf_xdp_event_output would append them [inv: not in the public firmware]."""
    from ..runtime.helpers import BPF_F_CTXLEN_MASK, BPF_F_CURRENT_CPU, BPF_F_INDEX_MASK

    m = machine.map_by_id(machine.read_reg(Gpr("A", 4)))
    flags = machine.read_reg(Gpr("A", 6)) | machine.read_reg(Gpr("A", 7)) << 32
    pointer, size = machine.read_reg(Gpr("A", 8)), machine.read_reg(Gpr("A", 10))
    ctx_len = (flags & BPF_F_CTXLEN_MASK) >> 32
    index = flags & BPF_F_INDEX_MASK
    if flags & ~(BPF_F_CTXLEN_MASK | BPF_F_INDEX_MASK) or ctx_len > machine.xdp.length:
        return -22
    record = machine.fw_bytes(pointer, size) + machine.xdp.packet[:ctx_len]
    machine.events.append({"type": "perf", "map": m.name,
                           "cpu": machine.config.cpu if index == BPF_F_CURRENT_CPU else index, "data": record.hex(),
                           "size": size, "ctx_len": ctx_len})  # the two parts the event message carries apart
    return 0


CARD_ROUTINES: dict[str, Callable] = {
    "map_lookup": card_lookup,
    "map_update": card_update,
    "map_delete": card_delete,
    "perf_event_output": card_perf_event_output,
}
