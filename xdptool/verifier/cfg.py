"""Structural checks before abstract interpretation (kernel check_subprogs/check_cfg).

Opcodes and reserved fields, ld_imm64 halves, jumps that leave their subprogram
or land in the middle of ld_imm64, the last instruction of each subprogram, a
depth-first walk for unreachable instructions and back-edges, invalid shifts and
division by an immediate zero.  The result (`Cfg`) also tells the interpreter
where to checkpoint states: jump targets, fall-throughs of conditional jumps,
returns from calls, and loop heads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from ..ebpf.insn import Instruction
from ..ebpf.opcodes import AluOp, Cls, JmpOp, PseudoSrc
from ..ebpf.validate import ANY, FIELDS, register_effects, rules_for
from .result import Reject

BPF_LOOP = 181  # helper id of bpf_loop(nr, callback, ctx, flags)
_CALL = Cls.JMP | JmpOp.CALL


@dataclass
class Cfg:
    insns: list[Instruction]
    by_pc: dict[int, Instruction]
    subprog_starts: list[int]  # sorted first slots; [0] is the entry
    prune_points: set[int] = field(default_factory=set)
    loop_heads: set[int] = field(default_factory=set)  # targets of back-edges
    live_in: dict[int, int] = field(default_factory=dict)  # pc -> bitmask of live registers
    callback_calls: set[int] = field(default_factory=set)  # helper calls that run a callback (loops)
    succ: dict[int, list[int]] = field(default_factory=dict)  # pc -> slots control reaches next
    helper_args: dict[int, int] = field(default_factory=dict)  # helper id -> argument registers read

    def args_read(self, insn: Instruction) -> int:
        """Mask of the argument registers a call reads: the helper's, or all of r1-r5."""
        count = self.helper_args.get(insn.imm, 5) if insn.is_helper_call else 5
        return ((1 << count) - 1) << 1

    def subprog_of(self, pc: int) -> int:
        index = 0
        for i, start in enumerate(self.subprog_starts):
            if start <= pc:
                index = i
        return index


def _reserved_message(insn: Instruction) -> str:
    cls, op = insn.cls, insn.op
    if insn.is_alu:
        return {AluOp.END: "BPF_END", AluOp.NEG: "BPF_NEG", AluOp.MOV: "BPF_MOV"}.get(op, "BPF_ALU") + " uses reserved fields"
    if insn.is_jmp:
        name = {JmpOp.CALL: "BPF_CALL", JmpOp.JA: "BPF_JA", JmpOp.EXIT: "BPF_EXIT"}.get(op, "BPF_JMP/JMP32")
        return f"{name} uses reserved fields"
    if cls == Cls.LD:
        return "invalid bpf_ld_imm64 insn" if insn.is_ld_imm64 else "BPF_LD_[ABS|IND] uses reserved fields"
    if insn.is_atomic:
        return f"BPF_ATOMIC uses invalid atomic opcode {insn.imm & 0xff:02x}"
    return {Cls.LDX: "BPF_LDX", Cls.ST: "BPF_ST", Cls.STX: "BPF_STX"}[Cls(cls)] + " uses reserved fields"


_PSEUDO_SRCS = frozenset(int(s) for s in PseudoSrc)
# (code, src) -> [(field, allowed values)] for the restricted fields (rules depend on nothing else)
_RULES: dict[tuple[int, int], list] = {}


def check_insn_fields(insn: Instruction) -> None:
    if not insn.is_valid_opcode:
        raise Reject(f"unknown opcode {insn.code:02x}", insn.pc)
    if insn.is_ld_imm64:
        if insn.ext != b"\0\0\0\0":
            raise Reject("invalid bpf_ld_imm64 insn", insn.pc)
        if insn.src not in _PSEUDO_SRCS:
            raise Reject("unrecognized bpf_ld_imm64 insn", insn.pc)
    restricted = _RULES.get((insn.code, insn.src))
    if restricted is None:
        rules = rules_for(insn)[1]
        restricted = _RULES[(insn.code, insn.src)] = [(n, rules[n]) for n in FIELDS if rules[n] is not ANY]
    for name, allowed in restricted:
        if getattr(insn, name) not in allowed:
            raise Reject(_reserved_message(insn), insn.pc)
    if insn.is_alu and not insn.uses_reg_src:
        if insn.op in (AluOp.DIV, AluOp.MOD) and insn.imm == 0:
            raise Reject("div by zero", insn.pc)
        if insn.op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
            width = 64 if insn.cls == Cls.ALU64 else 32
            if not 0 <= insn.imm < width:
                raise Reject(f"invalid shift {insn.imm}", insn.pc)


def successors(insn: Instruction) -> list[int]:
    """Slots control can reach next (a local call's entry is not among them)."""
    if insn.is_exit:
        return []
    if insn.is_branch:
        if insn.op == JmpOp.JA:
            return [insn.target]
        return [insn.pc + 1, insn.target]
    return [insn.pc + insn.slots]


def build_cfg(insns: list[Instruction], *, allow_loops: bool = True, helper_args: Mapping[int, int] | None = None) -> Cfg:
    """`helper_args`: helper id -> how many argument registers it reads (default: all five)."""
    _EFFECTS.clear()  # memoised within one program only (and one helper table), so that timings stay honest
    if not insns:
        raise Reject("last insn is not an exit or jmp", 0)
    by_pc = {insn.pc: insn for insn in insns}
    end = insns[-1].pc + insns[-1].slots
    for insn in insns:
        check_insn_fields(insn)
    starts = {0}
    for insn in insns:
        if insn.is_local_call or (insn.is_ld_imm64 and insn.src == PseudoSrc.FUNC):
            target = insn.pc + 1 + insn.imm
            if not 0 <= target < end:
                raise Reject(f"jump out of range from insn {insn.pc} to {target}", insn.pc)
            starts.add(target)
    subprog_starts = sorted(starts)
    cfg = Cfg(insns, by_pc, subprog_starts, helper_args=dict(helper_args or {}))
    cfg.succ = {insn.pc: successors(insn) for insn in insns}
    branches = {insn.pc: insn.target for insn in insns if insn.is_branch}  # decoded once: pc -> target
    bounds = list(zip(subprog_starts, subprog_starts[1:] + [end]))
    sub, (first, stop) = 0, bounds[0]
    for i, insn in enumerate(insns):  # check_subprogs, in pc order as the kernel reports
        target = branches.get(insn.pc)
        if target is not None and not first <= target < stop:
            raise Reject(f"jump out of range from insn {insn.pc} to {target}", insn.pc)
        if i + 1 == len(insns) or insns[i + 1].pc >= stop:
            if not (insn.is_exit or (target is not None and insn.op == JmpOp.JA)):
                raise Reject("last insn is not an exit or jmp", insn.pc)
            sub += 1
            if sub < len(bounds) and (i + 1 == len(insns) or bounds[sub][1] <= insns[i + 1].pc):
                raise Reject("last insn is not an exit or jmp", bounds[sub][0])  # an empty subprogram
            if sub < len(bounds):
                first, stop = bounds[sub]
    for pc, target in branches.items():
        if target not in by_pc:
            raise Reject(f"jump into the middle of ldimm64 insn {target - 1}", pc)
    _mark_prune_points(cfg, branches)
    _walk(cfg, allow_loops)
    _liveness(cfg)
    return cfg


def _mark_prune_points(cfg: Cfg, branches: dict[int, int]) -> None:
    """Jump targets, both sides of conditional jumps and calls, bpf_loop calls (checkpoint sites)."""
    for insn in cfg.insns:
        if insn.code & 0x07 not in (Cls.JMP, Cls.JMP32):
            continue
        target = branches.get(insn.pc)
        if insn.is_call or (target is not None and insn.op != JmpOp.JA):
            cfg.prune_points.update(cfg.succ[insn.pc])
        elif target is not None:
            cfg.prune_points.add(target)
        if insn.is_helper_call and insn.imm == BPF_LOOP:
            cfg.prune_points.add(insn.pc)
            cfg.callback_calls.add(insn.pc)


def _walk(cfg: Cfg, allow_loops: bool) -> None:
    """Iterative DFS from every subprogram entry (check_cfg): back-edges, unreachable code."""
    edges = {pc: [(s, False) for s in succ] for pc, succ in cfg.succ.items()}
    for insn in cfg.insns:
        if insn.code == _CALL and insn.src == 1:  # a local call: its entry is an edge too
            edges[insn.pc].append((insn.target, True))
    color: dict[int, int] = {}  # 1 = on the DFS stack, 2 = done
    for entry in cfg.subprog_starts:
        if entry in color:
            continue
        stack = [(entry, iter(edges[entry]))]
        color[entry] = 1
        while stack:
            pc, out = stack[-1]
            for target, is_call in out:
                state = color.get(target)
                if state is None:
                    color[target] = 1
                    stack.append((target, iter(edges[target])))
                    break
                if state == 1:
                    if is_call or not allow_loops:
                        raise Reject(f"back-edge from insn {pc} to {target}", pc)
                    cfg.loop_heads.add(target)
            else:
                color[pc] = 2
                stack.pop()
    for insn in cfg.insns:
        if insn.pc not in color:
            raise Reject(f"unreachable insn {insn.pc}", insn.pc)


_EFFECTS: dict[tuple[int, int, int, int], tuple[int, int]] = {}


def _reads_writes(cfg: Cfg, insn: Instruction) -> tuple[int, int]:
    """Registers read and written, as bit masks (for liveness); memoised on the fields they depend on."""
    key = (insn.code, insn.dst, insn.src, insn.imm)
    effects = _EFFECTS.get(key)
    if effects is None:
        if len(_EFFECTS) > 1 << 14:
            _EFFECTS.clear()
        effects = _EFFECTS[key] = _decode_reads_writes(cfg, insn)
    return effects


def _decode_reads_writes(cfg: Cfg, insn: Instruction) -> tuple[int, int]:
    if insn.is_call:  # reads its arguments (as the kernel's compute_live_registers), clobbers r0-r5
        return cfg.args_read(insn), 0b111111
    if insn.is_exit:
        return 0b1, 0
    reads, writes, kills = register_effects(insn)
    r = sum(1 << x for x in reads)
    w = sum(1 << x for x in writes) | sum(1 << x for x in kills)
    return r, w


def _liveness(cfg: Cfg) -> None:
    """Backward may-live analysis of registers (kernel compute_live_registers).

    Calls keep r6-r9 and r10 live across (callees and callers use them); exits of
    subprograms return r0 and the caller's callee-saved registers stay live.
    """
    callee_saved = 0b11111000000  # r6-r10
    order = []  # reverse pc order: (pc, successors, reads, kept-mask, extra) with everything decoded once
    for insn in reversed(cfg.insns):
        reads, writes = _reads_writes(cfg, insn)
        extra = 1 << 10
        if insn.is_local_call:
            extra |= callee_saved
        order.append((insn.pc, cfg.succ[insn.pc], reads | extra, ~writes, callee_saved if insn.is_exit else 0))
    live_in = {pc: 0 for pc, *_ in order}
    changed = True
    while changed:
        changed = False
        for pc, succ, gen, keep, exit_out in order:
            out = exit_out
            for s in succ:
                out |= live_in.get(s, 0)
            new = gen | (out & keep)
            if new != live_in[pc]:
                live_in[pc] = new
                changed = True
    cfg.live_in = live_in
