"""Bounded loops over packet bytes converge as in the kernel (issue 16, Build 1).

tests/data/loops/: a DNS query-name walk, label by label (dns_walk) and byte by byte
(dns_walk_bytes, where a loop-carried counter decides a branch only right after it
was loaded and then drifts undecided: the kernel's path-sensitive precision,
backtrack.py, lets the iterations' states match), and a payload signature search
followed by a bpf_loop() checksum (sig_csum).

The kernel's verdicts and processed-instruction counts were recorded from Linux 6.18
(`xdptool verify --kernel --json`, the objects built with Debian's clang 14); the
`kernel` test asks the running kernel again.  Ours must accept with at most
MAX_RATIO times the kernel's count: the counts differ by the checkpoints each places
(the kernel's heuristics differ from ours) and by the order of the walk, a small
factor; a loop that stops converging costs orders of magnitude (or the 1,000,000
instruction limit, which is what dns_walk_bytes hit before).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xdptool.elf import load_object
from xdptool.verifier import analyze

DATA = Path(__file__).resolve().parent / "data" / "loops"
MAX_RATIO = 10
# program -> (source, the kernel's processed instructions when it accepted it, Linux 6.18)
KERNEL_ACCEPTS = {
    "dns_walk": ("dns_walk.c", 54298),
    "dns_walk_bytes": ("dns_walk.c", 12087),
    "sig_csum": ("sig_csum.c", 5968),
}


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    out = tmp_path_factory.mktemp("loops")
    built = {}
    for source in sorted({source for source, _ in KERNEL_ACCEPTS.values()}):
        built[source] = out / source.replace(".c", ".o")
        subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                        "-c", str(DATA / source), "-o", str(built[source])], check=True)
    return built


def _program(objects, name: str):
    obj = load_object(objects[KERNEL_ACCEPTS[name][0]])
    return next(p for p in obj.programs if p.name == name)


@pytest.mark.parametrize("name", sorted(KERNEL_ACCEPTS))
def test_accepted_within_the_kernels_effort(objects, name):
    result = analyze(_program(objects, name), collect_facts=False)
    kernel_processed = KERNEL_ACCEPTS[name][1]
    assert result.accepted, result.error
    assert result.processed_insns <= MAX_RATIO * kernel_processed, (result.processed_insns, kernel_processed)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(KERNEL_ACCEPTS))
def test_the_running_kernel_agrees(objects, name):
    from xdptool.kernel import kernel_unavailable_reason, verify_with_kernel

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    program = _program(objects, name)
    verdict = verify_with_kernel(program)
    assert verdict.accepted, verdict.last_line
    ours = analyze(program, collect_facts=False)
    assert ours.accepted and ours.processed_insns <= MAX_RATIO * verdict.insn_processed
