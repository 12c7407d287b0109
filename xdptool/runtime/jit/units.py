"""What one native module holds (`Unit`s) and whether its code needs instruction-budget
checks: part of the compile cache's key, so computed on a warm start too, without
LLVM (translate.py builds the IR from the same units)."""


from typing import NamedTuple

from ...ebpf.insn import Instruction
from ...ebpf.opcodes import JmpOp, PseudoSrc
from ...elf.model import RelocKind

TAIL_CALL = 12  # bpf_tail_call
# Helpers that run a program function (a callback) many times: budget checks needed.
CALLBACK_HELPERS = frozenset({164, 170, 180, 181, 203})  # for_each_map_elem, timer_set_callback, find_vma, loop, user_ringbuf_drain
TAIL_CALL_RUNS = 34  # a program runs at most MAX_TAIL_CALL_CNT + 1 times per packet


# A NamedTuple, not a dataclass: a dataclass compiles its methods with exec at every start (~0.4 ms).
class Unit(NamedTuple):
    """One program in the function: the entry program (index 0) or a tail-call target."""

    index: int
    name: str
    insns: list[Instruction]
    broken: str | None = None  # why it cannot run: a tail call into it faults with this
    proven: frozenset[int] = frozenset()  # pcs of packet accesses the verifier proved in bounds (proofs.py)


def _successors(insn: Instruction) -> tuple[int, ...]:
    if insn.is_exit:
        return ()
    nxt = insn.pc + insn.slots
    if insn.is_branch:
        return (insn.target,) if insn.op == JmpOp.JA else (insn.target, nxt)
    return (nxt,)


def worst_case_insns(insns: list[Instruction], cap: int) -> int | None:
    """Most instructions one run of `insns` can execute (capped at `cap`), or None
    when it is unbounded: a cycle in the control-flow graph (loops, recursion).

    W(pc) = 1 + max W(successor), a call adding W(callee); computed by an iterative
    depth-first walk (programs may have a million instructions), so an edge back to
    an instruction still on the walk is exactly a cycle.  Clang's backward jumps
    that are not loops (shared tails, block reordering) do not count."""
    by_pc = {insn.pc: insn for insn in insns}
    worst: dict[int, int] = {}
    on_path: set[int] = set()
    if not insns:
        return 0
    stack = [(insns[0].pc, 0)]
    while stack:
        pc, state = stack.pop()
        if pc in worst:
            continue
        insn = by_pc.get(pc)
        if insn is None:  # past the end or an invalid target: a fault, one slot
            worst[pc] = 1
            continue
        deps = _successors(insn) + ((insn.target,) if insn.is_local_call else ())
        if state == 0:
            on_path.add(pc)
            stack.append((pc, 1))
            for dep in deps:
                if dep in on_path:
                    return None
                if dep not in worst:
                    stack.append((dep, 0))
            continue
        on_path.discard(pc)
        best = max((worst.get(s, 1) for s in _successors(insn)), default=0)
        if insn.is_local_call:
            best += worst.get(insn.target, 1)
        worst[pc] = min(cap, 1 + best)
    return worst[insns[0].pc]


def needs_budget_checks(units, max_insns: int) -> bool:
    """Whether a run could exceed `max_insns`: a real cycle, callbacks (callx, helpers
    that call back, function pointers), or a worst-case path (tail calls included)
    longer than the budget.  `units` is a list of instruction lists (or one list)."""
    if units and isinstance(units[0], Instruction):
        units = [units]
    runs = TAIL_CALL_RUNS if len(units) > 1 else 1
    for insns in units:
        forward_only = True  # every jump forward and no BPF-to-BPF call: no path runs an instruction twice
        for insn in insns:
            if insn.is_call:
                if insn.uses_reg_src or (insn.is_helper_call and insn.imm in CALLBACK_HELPERS):
                    return True
                forward_only = forward_only and not insn.is_local_call
            elif insn.is_ld_imm64:
                if insn.src == PseudoSrc.FUNC or (insn.reloc is not None and insn.reloc.kind is RelocKind.FUNC):
                    return True
            elif forward_only and insn.is_branch and insn.target <= insn.pc:
                forward_only = False
        if forward_only and (len(insns) + 1) * runs <= max_insns:
            continue  # the longest path is at most every instruction (and a jump past the end) once:
            # what worst_case_insns would bound it by, without its walk (every warm start computes this)
        worst = worst_case_insns(insns, max_insns + 1)
        if worst is None or worst * runs > max_insns:
            return True
    return False
