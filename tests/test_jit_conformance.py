"""The bpf_conformance suite on the JIT: every program gives the expected r0,
and the same r0 (or the same fault) as the reference interpreter."""

from __future__ import annotations

import pytest

from xdptool.ebpf.conformance import load_suite
from xdptool.runtime import vm
from xdptool.runtime.jit import run_raw

from conftest import CONFORMANCE, NO_CONFORMANCE, needs_conformance

CASES = load_suite(CONFORMANCE / "tests") if NO_CONFORMANCE is None else []
pytestmark = needs_conformance


def _outcome(run, case):
    try:
        return run(case.insns, case.mem)
    except vm.VmFault as fault:
        return ("fault", fault.fault.insn, fault.fault.message)


def test_suite_is_complete():
    assert len(CASES) == 313


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_conformance_case(case):
    jit = _outcome(run_raw, case)
    assert jit == case.result
    assert jit == _outcome(vm.run_raw, case)
