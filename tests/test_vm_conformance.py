"""The reference VM on the bpf_conformance suite: r0 must equal each case's `-- result`.

Negative cases whose program assembles must not silently agree: a wrong expected
result (`incorrect_return_value_high_bits`) must come out different.
"""

from __future__ import annotations


import pytest

from xdptool.ebpf.conformance import CaseFormatError, parse_case
from xdptool.errors import XdpError
from xdptool.runtime.vm import run_raw

from conftest import CONFORMANCE, needs_conformance

SUITE = CONFORMANCE
CASES = sorted((SUITE / "tests").glob("*.data"))
NEGATIVE = sorted((SUITE / "negative").glob("*.data"))
pytestmark = needs_conformance


def test_suite_size():
    assert len(CASES) == 313


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case(path):
    case = parse_case(path)
    assert case.result is not None and not case.expects_error
    assert run_raw(case.insns, case.mem) == case.result


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: p.stem)
def test_negative_case_is_not_accepted_silently(path):
    try:
        case = parse_case(path)
    except (CaseFormatError, XdpError):
        return  # refused before it could run
    if case.result is None:
        return  # an `-- error` case: nothing to compare
    try:
        got = run_raw(case.insns, case.mem)
    except XdpError:
        return  # faulted or refused at run time: not silently accepted
    assert got != case.result, f"{path.stem}: the VM agrees with a result marked wrong"
