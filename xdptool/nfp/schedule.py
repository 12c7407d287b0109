"""Defer slots: let an unconditional branch take the instructions before it along.

An NFP branch can execute up to two (unconditional) instructions that follow it
before the jump takes effect, hiding the taken-branch penalty (nfp-facts.md).
`fill_defer_slots` turns `X; Y; br[L]` into `br[L], defer[2]; X; Y` when that
keeps every path's meaning: the branch reads nothing (firmware calls read
A0/B0 only when the routine starts, after the slots), the moved instructions
keep their order, no label points into the moved group except at its first
instruction (a jump there now lands on the branch, which still runs X and Y),
and nothing moved is tied to what precedes it (the `immed` after a
local_csr_rd).  Conditional branches keep their slots empty: the instructions
before them set the condition codes.
"""

from __future__ import annotations

from .isa import MAX_DEFER, NfpInsn

MOVABLE = {"alu", "alu_shf", "ld_field", "immed", "nop"}


def fill_defer_slots(insns: list[NfpInsn], labels: dict[str, int]) -> tuple[list[NfpInsn], dict[str, int]]:
    labelled = set(labels.values())
    out = list(insns)
    index = 0
    while index < len(out):
        branch = out[index]
        if not (branch.kind == "br" and branch.op == "br" and branch.defer == 0) or index in labelled:
            index += 1
            continue
        count = 0
        while count < MAX_DEFER["br"]:
            at = index - count - 1
            if at < 0 or out[at].kind not in MOVABLE or out[at].defer or _tied(out, at):
                break
            if out[at].is_branch:
                break
            count += 1
            if at in labelled:
                break  # the group may start at a label, not contain one further in
        if count:
            start = index - count
            branch.defer = count
            out[start:index + 1] = [branch] + out[start:index]
        index += 1
    return out, labels


def _tied(insns: list[NfpInsn], at: int) -> bool:
    """Bound to what comes before: the immed of a local_csr_rd, or another branch's defer slot."""
    if at > 0 and insns[at - 1].kind == "csr_rd":
        return True
    return any(insns[k].is_branch and k + insns[k].defer >= at for k in range(max(0, at - 3), at))
