"""Packet accesses the verifier proved in bounds, which the jit emits without a check.

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
"""

from ...ebpf.opcodes import Cls, Mode
from ...errors import XdpError

# Processed instructions the verifier may spend on proofs (the kernel's limit is 1M): a
# loop-free example needs at most ~1,100; a program that needs more runs checked.
PROOF_INSNS = 100_000


def proven_packet_accesses(program) -> frozenset[int]:
    """pcs of `program`'s loads and stores whose base is a packet pointer in every state
    the verifier reached there, when the verifier accepts the program within PROOF_INSNS;
    else none."""
    from ...verifier import analyze  # a compile's cost: a warm start never imports the verifier

    try:
        result = analyze(program, collect_facts=True, insn_limit=PROOF_INSNS)
    except XdpError:  # not analysable (unsupported feature, no kernel BTF): all checked
        return frozenset()
    if not result.accepted:
        return frozenset()
    proven = set()
    for insn in program.insns:
        base = _base_register(insn)
        facts = result.facts.get(insn.pc)
        fact = None if base is None or facts is None else facts.reg(base)
        if fact is not None and fact.types == {"pkt"}:
            proven.add(insn.pc)
    return frozenset(proven)


def _base_register(insn) -> int | None:
    """The register a plain load or store addresses memory through (atomics: None)."""
    if insn.cls == Cls.LDX and insn.mode in (Mode.MEM, Mode.MEMSX):
        return insn.src
    if insn.cls in (Cls.ST, Cls.STX) and insn.mode == Mode.MEM:
        return insn.dst
    return None
