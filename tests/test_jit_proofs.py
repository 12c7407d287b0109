"""The jit emits the packet accesses xdptool's verifier proves in bounds without a check
(runtime/jit/proofs.py), as the kernel's JIT trusts its verifier: results stay the vm's,
and whatever the verifier does not prove stays checked and faults as on the vm."""

from __future__ import annotations

import pytest

from test_jit_diff import PACKETS, agree_with_vm, program

from xdptool.runtime.jit import compiler
from xdptool.runtime.jit.proofs import proven_packet_accesses
from xdptool.verifier import analyze

# Read byte 12 of the packet and write byte 0, after the range check the verifier needs.
CHECKED_FIRST = """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 14
        if r4 > r3 goto out
        r0 = *(u8 *)(r2 + 12)
        *(u8 *)(r2 + 0) = r0
        r0 &= 3
        exit
    out:
        r0 = 1
        exit"""
# The same access with no range check: the verifier (and the kernel's) refuse it.
UNCHECKED = """
        r2 = *(u32 *)(r1 + 0)
        r0 = *(u8 *)(r2 + 60)
        r0 &= 3
        exit"""


def test_the_accesses_after_a_range_check_are_proven_and_nothing_else():
    prog = program(CHECKED_FIRST)
    assert analyze(prog).accepted
    assert proven_packet_accesses(prog) == {5, 6}  # the packet load and store; not the ctx loads at 0 and 1


def test_a_program_the_verifier_refuses_has_no_proofs_and_faults_as_on_the_vm():
    prog = program(UNCHECKED)
    assert not analyze(prog).accepted
    assert proven_packet_accesses(prog) == frozenset()
    short = [bytes(20)]  # byte 60 is past the end: a fault on both engines
    agree_with_vm(UNCHECKED, short + PACKETS[:2])


@pytest.mark.parametrize("packets", [PACKETS, [bytes(14), bytes(range(64))]])
def test_proven_accesses_agree_with_the_vm(packets):
    agree_with_vm(CHECKED_FIRST, packets, faults=False)


def test_the_compile_asks_for_proofs_only_with_a_program(monkeypatch):
    """Engines made from a Program get proofs (the cache key says so); raw instruction runs
    (the conformance suite: any r1) keep every access checked."""
    seen = []
    real = compiler._build
    monkeypatch.setattr(compiler, "_build", lambda units, *rest: seen.append(units[0].proven) or real(units, *rest))
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    agree_with_vm(CHECKED_FIRST, PACKETS[:1])
    assert seen == [frozenset({5, 6})]
