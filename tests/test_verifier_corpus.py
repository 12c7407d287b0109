"""The reject/accept corpus: our verdict and message against the kernel's recorded ones.

Each case in tests/verifier_corpus/ carries the kernel's answer (expected.json),
so the comparison runs without CAP_BPF; with CAP_BPF the `kernel` tests also
re-ask the live kernel.  Messages compare modulo register numbers and numbers.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from xdptool.verifier import analyze

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("verifier_cases", HERE / "verifier_corpus" / "cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

MANIFEST = json.loads(cases.MANIFEST.read_text())
NAMES = sorted(MANIFEST)


def _param(name):
    marks = [pytest.mark.slow] if name in cases.SLOW else []
    return pytest.param(name, marks=marks, id=name)


def _ours(name):
    profile, unprivileged = cases.profile_of(name)
    return analyze(cases.load_case(name), profile, unprivileged=unprivileged, collect_facts=False)


def test_corpus_is_big_enough():
    rejects = [n for n in NAMES if not MANIFEST[n]["kernel"]["accepted"]]
    assert len(rejects) >= 40
    assert all(MANIFEST[n]["class"] != "?" for n in rejects)


@pytest.mark.parametrize("name", [_param(n) for n in NAMES])
def test_agrees_with_recorded_kernel(name):
    kernel = MANIFEST[name]["kernel"]
    result = _ours(name)
    assert result.accepted == kernel["accepted"], result.error
    if not kernel["accepted"]:
        assert cases.normalise(result.error.first_line) == cases.normalise(kernel["message"])


@pytest.mark.parametrize("name", [_param(n) for n in NAMES if len(MANIFEST[n]["kernel"]["block"]) > 1])
def test_follow_up_lines_match(name):
    """Where the kernel explains on a second line (`R2 offset is outside of the packet`), so do we."""
    kernel = MANIFEST[name]["kernel"]
    ours = _ours(name).error.message.splitlines()
    assert [cases.normalise(l) for l in ours] == [cases.normalise(l) for l in kernel["block"]][: len(ours)]


def test_rejections_point_at_c_source():
    result = _ours("pkt_off_by_one")
    assert result.error.file.endswith("pkt_off_by_one.c")
    source = (HERE / "verifier_corpus" / "pkt_off_by_one.c").read_text().splitlines()
    assert source[result.error.line - 1].strip() == result.error.source


@pytest.mark.kernel
@pytest.mark.parametrize("name", [_param(n) for n in NAMES if MANIFEST[n]["kernel"]["recorded"]])
def test_recorded_kernel_answer_is_current(name):
    from xdptool.kernel import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    accepted, log = cases.ask_kernel(name)
    kernel = MANIFEST[name]["kernel"]
    assert accepted == kernel["accepted"]
    if not accepted:
        assert cases.error_block(log)[0] == kernel["message"]
