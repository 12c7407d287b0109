"""What the verifier proves about a program's packet use, which the jit's code relies on.

The kernel's JIT trusts its verifier: a load or store through a packet pointer that the
verifier accepted (its offset within the range a comparison with data_end proved) is one
machine instruction.  The jit does the same for a program xdptool's verifier accepts: at a
pc where the base register was a packet pointer (PTR_TO_PACKET) in every state the
verifier reached, the access lies inside [data, data_end), inside the packet region's
window, so the run-time check (memory.py) would always pass.  Anything else (a program
the verifier rejects or cannot analyse, an access through another kind of pointer, a
pc no state reached) stays checked.  Only a compile (a cache miss) asks, and only for a
program whose runs are bounded (engine.compiled_for: a loop can cost the verifier far more
than its compile): the result is part of the native code, and the verifier's sources are
part of the cache key (cache.GENERATOR_SOURCES).

The same facts tell whether the program only reads the packet: no store, atomic or helper
can reach its bytes.  Such a program's packet loop runs each packet where the input holds
it, without copying it into a frame (batch.py, in place).
"""

from typing import NamedTuple

from ...ebpf.opcodes import Cls, JmpOp, Mode
from ...errors import XdpError
from ...platform.helpers import XDP_HELPERS
from ...verifier.state import RegType  # (this module is imported to compile only, as the verifier)

# Processed instructions the verifier may spend on proofs (the kernel's limit is 1M): a
# loop-free example needs at most ~1,100; a program that needs more runs checked.
PROOF_INSNS = 100_000
PACKET_TYPES = frozenset(t.value for t in RegType if t.is_pkt)  # the verifier's pointers into packet bytes


class PacketProof(NamedTuple):
    """What the verifier proved about a program's use of the packet."""

    accesses: frozenset[int]  # pcs of loads and stores through a packet pointer, all in bounds
    read_only: bool  # nothing the program does can change the packet's bytes or bounds


NOTHING_PROVEN = PacketProof(frozenset(), False)


def packet_proof(program) -> PacketProof:
    """The accesses (pcs of `program`'s loads and stores whose base is a packet pointer in
    every state the verifier reached there) and whether the program only reads the packet,
    when the verifier accepts the program within PROOF_INSNS; else nothing."""
    from ...verifier import analyze  # a compile's cost: a warm start never imports the verifier

    try:
        result = analyze(program, collect_facts=True, insn_limit=PROOF_INSNS)
    except XdpError:  # not analysable (unsupported feature, no kernel BTF): all checked
        return NOTHING_PROVEN
    if not result.accepted:
        return NOTHING_PROVEN
    proven = set()
    for insn in program.insns:
        base = _base_register(insn)
        facts = result.facts.get(insn.pc)
        fact = None if base is None or facts is None else facts.reg(base)
        if fact is not None and fact.types == {RegType.PKT.value}:
            proven.add(insn.pc)
    return PacketProof(frozenset(proven), _reads_packet_only(program, result.facts))


def _global_functions(program) -> dict:
    """Start pc -> GlobalFunc of the subprograms the verifier checks on their own."""
    from ...verifier.subprogs import global_funcs

    starts = sorted({0} | {insn.target for insn in program.insns if insn.is_local_call})
    return global_funcs(program, starts)


def _reads_packet_only(program, facts) -> bool:
    """Whether no instruction the verifier reached can change the packet: no store or atomic
    through a pointer that may be a packet pointer, no helper that changes it itself
    (Helper.writes_packet) or writes through an argument that may point into it
    (Helper.written_args), no global function given a pointer that may point into it (the
    verifier checks its body with the argument typed as plain memory: its stores say
    nothing about the packet), no kfunc or callx (whose arguments are not followed here)."""
    global_functions = _global_functions(program)
    for insn in program.insns:
        at = facts.get(insn.pc)
        if at is None:  # no state reached it: it never runs
            continue
        if insn.cls in (Cls.ST, Cls.STX):
            if _may_point_into_packet(at, insn.dst):
                return False
        elif insn.is_helper_call:
            helper = XDP_HELPERS.get(insn.imm)
            if helper is None or helper.writes_packet or any(_may_point_into_packet(at, arg)
                                                             for arg in helper.written_args):
                return False
        elif insn.is_local_call:
            callee = global_functions.get(insn.target)
            if callee is not None and any(_may_point_into_packet(at, arg)
                                          for arg in range(1, len(callee.args or ()) + 1)):
                return False
        elif insn.is_kfunc_call or (insn.is_jmp and insn.op == JmpOp.CALL and not insn.is_call):
            return False
    return True


def _may_point_into_packet(at, regno: int) -> bool:
    fact = at.reg(regno)
    return fact is None or bool(fact.types & PACKET_TYPES)


def _base_register(insn) -> int | None:
    """The register a plain load or store addresses memory through (atomics: None)."""
    if insn.cls == Cls.LDX and insn.mode in (Mode.MEM, Mode.MEMSX):
        return insn.src
    if insn.cls in (Cls.ST, Cls.STX) and insn.mode == Mode.MEM:
        return insn.dst
    return None
