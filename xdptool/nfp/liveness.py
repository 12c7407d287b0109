"""Control flow and liveness on NFP code, and the dead-code elimination built on them.

Works on code before or after allocation: registers are whatever
`NfpInsn.uses()/defs()` return (virtual registers and pinned GPRs alike).
A branch to a firmware routine (meta["fw"]) continues at the next
instruction (the routine returns to the label right after it), except `exit`.
Code from the lowering has no defer slots; `fill_defer_slots` runs last.
"""

from __future__ import annotations

from .isa import NfpInsn
from .registers import VReg


def successors(insns: list[NfpInsn], labels: dict[str, int]) -> list[list[int]]:
    out: list[list[int]] = []
    n = len(insns)
    for index, insn in enumerate(insns):
        nxt = [index + 1] if index + 1 < n else []
        if insn.kind in ("br", "br_bit"):
            fw = insn.meta.get("fw")
            if fw == "exit":
                out.append([])
                continue
            if fw is not None:
                out.append(nxt)
                continue
            target = insn.target if isinstance(insn.target, int) else labels[insn.target]
            out.append([target] if insn.is_unconditional else sorted(set(nxt + [target])))
        elif insn.kind in ("rtn", "jump"):
            out.append([])  # computed targets: the lowering never emits them
        else:
            out.append(nxt)
    return out


def live_out(insns: list[NfpInsn], labels: dict[str, int]) -> list[set]:
    """Registers live after each instruction (iterative backward dataflow)."""
    succ = successors(insns, labels)
    uses = [set(i.uses()) for i in insns]
    defs = [set(i.defs()) for i in insns]
    live_in: list[set] = [set() for _ in insns]
    out: list[set] = [set() for _ in insns]
    changed = True
    while changed:
        changed = False
        for index in range(len(insns) - 1, -1, -1):
            new_out = set()
            for s in succ[index]:
                new_out |= live_in[s]
            new_in = uses[index] | (new_out - defs[index])
            if new_in != live_in[index] or new_out != out[index]:
                live_in[index], out[index] = new_in, new_out
                changed = True
    return out


PURE = {"alu", "alu_shf", "ld_field", "immed"}


def _removable(insns: list[NfpInsn], index: int, live: set) -> bool:
    insn = insns[index]
    if insn.kind not in PURE or not isinstance(insn.dst, VReg) or insn.dst in live:
        return False
    nxt = insns[index + 1] if index + 1 < len(insns) else None
    # its condition codes or its result as the shifter's indirect amount may still matter
    if nxt is not None and insn.sets_cc and (nxt.kind == "br" and nxt.op != "br"):
        return False
    if nxt is not None and insn.sets_cc and nxt.kind == "alu_shf" and (
            nxt.op == "ASR" or (nxt.shift is not None and nxt.shift.amount is None)):
        return False
    return True


def eliminate_dead_code(insns: list[NfpInsn], labels: dict[str, int]) -> tuple[list[NfpInsn], dict[str, int]]:
    """Drop pure instructions whose result nobody reads, until none is left."""
    while True:
        out = live_out(insns, labels)
        dead = {i for i in range(len(insns)) if _removable(insns, i, out[i])}
        if not dead:
            return insns, labels
        insns, labels = remove(insns, labels, dead)


def remove(insns: list[NfpInsn], labels: dict[str, int], drop: set[int]) -> tuple[list[NfpInsn], dict[str, int]]:
    """Remove instructions by index, keeping labels on the next surviving one."""
    new_index, kept = [], []
    for index, insn in enumerate(insns):
        new_index.append(len(kept))
        if index not in drop:
            kept.append(insn)
    new_index.append(len(kept))
    return kept, {name: new_index[pos] for name, pos in labels.items()}


def insert(insns: list[NfpInsn], labels: dict[str, int], before: dict[int, list[NfpInsn]],
           after: dict[int, list[NfpInsn]] | None = None) -> tuple[list[NfpInsn], dict[str, int]]:
    """Insert code before/after instructions; a label on an instruction moves to what is inserted before it."""
    after = after or {}
    new_index, out = [], []
    for index, insn in enumerate(insns):
        new_index.append(len(out))
        out.extend(before.get(index, ()))
        out.append(insn)
        out.extend(after.get(index, ()))
    new_index.append(len(out))
    return out, {name: new_index[pos] for name, pos in labels.items()}
