"""The kernel JIT's register mapping on our lowering: the yardstick for the allocator.

bpf/jit.c maps eBPF register n to GPR 2n (low half) and 2n + 1 (high half),
writes every result to both banks (`reg_both`), reads the left operand from
bank A and the right one from bank B, keeps GPRs 20-23 for itself and runs
the ME in 4-context mode (nfp-facts.md).  `allocate_baseline` does the same to
the virtual code of lower.py: named eBPF halves get their fixed pair, written
to both banks; registers that only inlined BPF-to-BPF calls have (r11 and up,
our renaming) take the next free pairs from 24; the JIT's own temporaries go
through the ordinary allocator into what is left.  No dead-code elimination:
the kernel writes the high half after 32-bit operations unless its verifier
proves it unneeded, which we do not model here.
"""

from __future__ import annotations

import itertools

from ..errors import XdpError
from .regalloc import Allocation, BankAssigner, Colouring, _finish
from .registers import Gpr, VReg, is_reg

FIRST_EXTRA_PAIR = 24
CONTEXTS = 4


def fixed_index(vreg: VReg) -> int | None:
    hint = vreg.hint
    if not hint.startswith("r") or not hint.endswith(("lo", "hi")):
        return None
    n = int(hint[1:-2])
    half = 0 if hint.endswith("lo") else 1
    base = 2 * n if n <= 10 else FIRST_EXTRA_PAIR + 2 * (n - 11)
    index = base + half
    if index >= 32:
        raise XdpError(f"baseline mapping: eBPF register r{n} has no fixed GPR pair (only 16 fit)")
    return index


def allocate_baseline(insns, labels) -> Allocation:
    insns = [i.copy() for i in insns]

    def pin(r):
        if isinstance(r, VReg):
            index = fixed_index(r)
            if index is not None:
                return Gpr("AB", index)
        return r

    for insn in insns:
        insn.replace_regs(pin)
    ids = itertools.count(1 << 20)
    insns, labels, banks = BankAssigner(insns, dict(labels), ids).run()
    colours: dict = {}
    for bank in ("A", "B"):
        c, spilled = Colouring(insns, labels, bank, banks, 32, set()).run()
        if spilled:
            raise XdpError("baseline mapping: the JIT's temporaries do not fit")
        colours.update(c)
    # sources read from a register held in both banks: left from A, right from B (or opposite the partner)
    for insn in insns:
        pair = insn.spec.pair
        fields = list(pair) if pair else [f for f in insn.spec.reads]
        for position, name in enumerate(fields):
            op = getattr(insn, name)
            if name == "dst" and insn.kind != "ld_field":
                continue
            if isinstance(op, Gpr) and op.bank == "AB":
                partner = getattr(insn, fields[1 - position]) if pair else None
                partner_bank = _bank(partner, banks)
                if partner_bank in ("A", "B"):
                    bank = "B" if partner_bank == "A" else "A"
                else:
                    bank = "A" if position == 0 else "B"
                if insn.kind == "ld_field" and name == "dst":
                    continue  # read-modify-write of the pair: it stays in both banks
                setattr(insn, name, Gpr(bank, op.index))
    return _finish(insns, labels, colours, banks, CONTEXTS, {}, {"bank_fixups": 0})


def _bank(op, banks) -> str | None:
    if isinstance(op, Gpr):
        return op.bank
    if is_reg(op):
        return banks.get(op)
    return None
