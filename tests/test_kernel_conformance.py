"""The bpf_conformance suite on the kernel: wrapped as XDP (xdptool.kernel.conformance), r0 vs `-- result`.

300 of the 313 programs are accepted; every accepted one must produce the expected
64-bit r0.  The 13 the kernel refuses are listed with the verifier's reason, so a
kernel (or wrapper) change that moves a program between the groups fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.kernel.conformance import run_conformance, wrap
from xdptool.kernel.probe import kernel_unavailable_reason

from conftest import CONFORMANCE, needs_conformance

_REASON = kernel_unavailable_reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(_REASON is not None, reason=f"kernel: {_REASON}"), needs_conformance]

SUITE = CONFORMANCE / "tests"
CASES = sorted(SUITE.glob("*.data")) if SUITE.is_dir() else []

# Deliberate kernel refusals (the verifier's last log line): immediate shift amounts
# outside 0..width-1 are undefined for the kernel ("invalid shift"), bpf_conformance
# defines them as masked; callx (opcode 0x8d) is not in the kernel's instruction set.
KERNEL_REFUSES = {
    **{f"{op}{w}-imm-{kind}": "invalid shift" for op in ("arsh", "lsh", "rsh") for w in (32, 64)
       for kind in ("high", "neg")},
    "callx": "unknown opcode 8d",
}


def sections(path: Path) -> dict[str, list[str]]:
    """A .data file's `-- name` sections, comments stripped."""
    out: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        if line.startswith("-- "):
            current = line[3:].strip()
            out[current] = []
        elif current is not None:
            out[current].append(line.split("#", 1)[0].strip() if current != "asm" else line)
    return out


def case(path: Path) -> tuple[list, bytes, int]:
    parts = sections(path)
    body = assemble("\n".join(parts["asm"]), syntax="conformance")
    mem = bytes.fromhex("".join(" ".join(parts.get("mem", [])).split()))
    expected = int("".join(parts["result"]) or "0", 0) & (2**64 - 1)
    return body, mem, expected


@pytest.mark.skipif(not CASES, reason=f"no conformance suite at {SUITE}")
def test_kernel_runs_the_conformance_suite():
    accepted, refused, wrong = 0, {}, []
    for path in CASES:
        body, mem, expected = case(path)
        outcome = run_conformance(body, mem, path.stem)
        if not outcome.accepted:
            refused[path.stem] = outcome.reason
        elif outcome.result != expected:
            wrong.append(f"{path.stem}: r0={outcome.result:#x}, expected {expected:#x}")
        else:
            accepted += 1
    assert wrong == []
    assert sorted(refused) == sorted(KERNEL_REFUSES)
    for name, reason in refused.items():
        assert reason.startswith(KERNEL_REFUSES[name]), (name, reason)
    assert accepted == len(CASES) - len(KERNEL_REFUSES)


def test_wrapper_reports_a_wrong_result_and_the_full_r0():
    body = assemble("lddw %r0, 0x8000000000000001\nexit", syntax="conformance")
    assert run_conformance(body, b"").result == 0x8000000000000001


def test_wrapper_retargets_jumps_and_local_calls():
    text = """
        mov %r6, %r1
        call local f
        jeq %r0, 3, good
        mov %r0, 99
        exit
    good:
        ldxb %r1, [%r6+1]
        add %r0, %r1
        exit
    f:
        mov %r0, 3
        exit
    """
    body = assemble(text, syntax="conformance")
    assert run_conformance(body, b"\x00\x07").result == 10
    wrapped = wrap(body, 2)
    exits = [i for i in wrapped if i.is_exit]
    assert len(exits) == 3  # prologue bail-out, epilogue, subprogram f (main's exits become jumps)


def test_out_of_bounds_memory_is_a_load_time_refusal():
    body = assemble("ldxb %r0, [%r1+5]\nexit", syntax="conformance")
    outcome = run_conformance(body, bytes(5))
    assert not outcome.accepted and "outside of the packet" in outcome.reason
