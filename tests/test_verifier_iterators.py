"""Open-coded iterators (verifier iterators.py) against the live kernel.

tests/data/verifier/iterators.c: loops over packet bytes driven by bpf_iter_num and
bpf_iter_bits (converging at the _next call, as the kernel's do), and the misuses the
kernel refuses.  Each program is judged by xdptool and by the kernel (loaded as XDP with
the object's BTF, as libbpf loads it): the same verdict, and for a rejection the same
first line.  RECORDED is what Linux 6.18 answered, with the instructions it processed for
the accepted ones; ours must stay within MAX_RATIO of that (the walks differ in where
they checkpoint, a small factor; a loop that stops converging costs orders of magnitude).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.verifier import analyze

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "data" / "verifier" / "iterators.c"
_KERNEL = kernel_unavailable_reason()
MAX_RATIO = 3

_spec = importlib.util.spec_from_file_location("verifier_cases", HERE / "verifier_corpus" / "cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

# program -> Linux 6.18's verdict: the instructions it processed when it accepted, else
# the first line of its error
RECORDED = {
    "pkt_sum": 135, "pkt_find_zero": 57, "pkt_nested": 188, "bits_count": 83, "subprog_iter": 354, "tlv_walk": 275,
    "leak": "Unreleased reference id=1 alloc_insn=5",
    "double_new": "expected uninitialized iter_num as arg #0",
    "next_after_destroy": "expected an initialized iter_num as arg #0",
    "next_uninit": "expected an initialized iter_num as arg #0",
    "read_iter_bytes": "invalid read from stack off -8+0 size 8",
    "overwrite_iter": "expected an initialized iter_num as arg #0",
    "write_element": "R0 cannot write into rdonly_mem",
    "element_after_destroy": "R6 invalid mem access 'scalar'",
    "index_off_by_one": "invalid variable-offset read from stack R2 var_off=(0x0; 0x7f) off=-64 size=1",
    "element_unbounded": "value -2147483648 makes pkt pointer be out of bounds",
    "misaligned_iter": "cannot pass in iter at an offset=-20",
    "iter_in_map_value": "arg#0 expected pointer to an iterator on stack",
    "bits_as_num": "expected an initialized iter_num as arg #0",
}


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("needs clang")
    out = tmp_path_factory.mktemp("iterators") / "iterators.o"
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(SOURCE),
                    "-o", str(out)], check=True, capture_output=True)
    from xdptool.elf import load_object

    return load_object(str(out))


def _ours(program) -> tuple[str, int]:
    result = analyze(program, collect_facts=False)
    return ("accept" if result.accepted else "reject: " + result.error.first_line), result.processed_insns


def _want(recorded) -> str:
    return "accept" if isinstance(recorded, int) else "reject: " + recorded


def test_every_program_is_judged_as_linux_6_18_judged_it(obj):
    assert sorted(p.name for p in obj.programs) == sorted(RECORDED)
    wrong = []
    for name, recorded in RECORDED.items():
        verdict, processed = _ours(obj.program(name))
        if cases.normalise(verdict) != cases.normalise(_want(recorded)):
            wrong.append(f"{name}: {verdict!r}, recorded {_want(recorded)!r}")
        elif isinstance(recorded, int) and processed > MAX_RATIO * recorded:
            wrong.append(f"{name}: {processed} instructions processed, the kernel {recorded}")
    assert not wrong, "\n".join(wrong)


def test_the_log_shows_the_iterator_as_the_kernel_prints_it(obj):
    log = analyze(obj.program("pkt_sum"), log_level=2, collect_facts=False).log
    assert "fp-8=iter_num(ref_id=1,state=active,depth=0)" in log
    assert "fp-8=iter_num(ref_id=1,state=drained,depth=0)" in log
    assert "fp-8=iter_num(ref_id=1,state=active,depth=1)" in log


def _kernel_says(program) -> tuple[str, int | None]:
    import re

    from xdptool.kernel.load import KernelRejected, load_program
    from xdptool.kernel.maps import KernelMaps
    from xdptool.kernel.verify import program_maps

    with KernelMaps(program_maps(program), program.object) as kmaps:
        try:
            with load_program(program, kmaps.fds(), log_level=1, log_size=1 << 24, use_btf=True) as loaded:
                return "accept", int(re.search(r"processed (\d+) insns", loaded.log).group(1))
        except KernelRejected as rejected:
            return "reject: " + cases.error_block(rejected.log)[0], None


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
def test_every_program_agrees_with_the_running_kernel(obj):
    disagree = []
    for program in obj.programs:
        (ours, processed), (kernel, kernel_processed) = _ours(program), _kernel_says(program)
        if cases.normalise(ours) != cases.normalise(kernel):
            disagree.append(f"{program.name}: xdptool {ours!r}, kernel {kernel!r}")
        elif kernel_processed is not None and processed > MAX_RATIO * kernel_processed:
            disagree.append(f"{program.name}: {processed} instructions processed, the kernel {kernel_processed}")
    assert not disagree, "\n".join(disagree)
