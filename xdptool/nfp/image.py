"""A linked NFP image, and the memory layout the lowering, executor and firmware share.

Address map of the emulated card, 32-bit [inv]: the frame holding the packet
sits in the island's CTM at `CTM_BASE` (+ frame offset); map values live in
EMEM at `EMEM_BASE | map id << 24 | offset in the map's storage`; 0 is NULL.
Pointers therefore fit 32 bits and their high halves are zero on the card.

Local memory (4 KB per ME) is split into one area per thread (1 KB with 4
contexts, 512 B with 8).  LM address pointer 0 (`*l$index0[n]`) holds the area's
base, set by the firmware before the program starts; the first 16 words are
directly addressable:

    word 0  data       CTM address of the packet's first byte (adjust_head moves it)
    word 1  data_end   CTM address one past the last byte
    word 2  ingress_ifindex          word 3  rx_queue_index
    word 4  this thread's LM byte address (to compute pointers into the area)
    words 5..15  register spill slots
    byte 64 ...  the eBPF stack (all inlined call frames), fp at its end

LM pointer 1 points 64 bytes below the main frame pointer at every block
boundary, so the 64 bytes below fp are directly addressable (as in the
kernel's JIT); deeper slots move it for a moment.  Pointers 2 and 3 pass map
keys and values to the firmware routines (firmware.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import XdpError
from . import abi
from .isa import NfpInsn

CTM_BASE = 0x0010_0000
EMEM_BASE = 0x8000_0000
EMEM_MAP_SHIFT = 24
LM_BYTES = 4096
LM_CTX_DATA, LM_CTX_DATA_END, LM_CTX_IFINDEX, LM_CTX_RXQ, LM_CTX_BASE = 0, 1, 2, 3, 4
LM_SPILL_FIRST, LM_SPILL_LAST = 5, 15
LM_STACK_OFFSET = 64
STACK_WINDOW = 64  # bytes reachable through one LM pointer (16 words)
CONTROL_STORE = 8192  # instructions per ME; the firmware routines live above the program's window
BPF_WINDOW = 2560  # nfp-facts: the firmware's window for the offloaded program


def lm_area_bytes(contexts: int) -> int:
    return LM_BYTES // contexts


@dataclass
class Image:
    """Instructions with resolved branch targets plus what running them needs."""

    insns: list[NfpInsn]
    labels: dict[str, int]
    contexts: int
    stack_bytes: int
    spill_slots: int
    maps: list[str]  # map id -> map name
    program: str = ""
    stats: dict = field(default_factory=dict)  # allocator figures for reports
    allocator: str = "xdptool"  # "kernel": the driver's JIT (kernel_jit.py); "xdptool": regalloc.py
    load_address: int = 0  # where instruction 0 sits in the control store (branch targets are absolute)
    abi: str = "xdptool"  # "card": abi.py's firmware ABI; "xdptool": firmware.py's (the what-if's own)

    @property
    def regs_per_bank(self) -> int:
        """GPRs per bank the program may use: BPF's share (abi.py)."""
        return abi.regs_per_bank(self.contexts)

    @property
    def lm_bytes(self) -> int:
        """LM bytes one thread uses (context words, spill slots, stack)."""
        return LM_STACK_OFFSET + self.stack_bytes

    def lm_base(self, thread: int) -> int:
        return thread * lm_area_bytes(self.contexts)


def link(insns: list[NfpInsn], labels: dict[str, int], symbols: dict[str, int], base: int = 0) -> list[NfpInsn]:
    """Resolve label targets (branches, immed of a return address) to addresses; instruction 0
    sits at `base` (the kernel image's abi.START_OFF, with abi.SYMBOLS for the firmware's)."""
    table = {**symbols, **{name: base + at for name, at in labels.items()}}
    for insn in insns:
        if isinstance(insn.target, str):
            if insn.target not in table:
                raise XdpError(f"NFP image: undefined label {insn.target!r}")
            insn.meta["label"] = insn.target
            insn.target = table[insn.target]
    return insns
