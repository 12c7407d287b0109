"""Dynptrs (verifier dynptr.py, runtime kfuncs.py) against the live kernel.

tests/data/verifier/dynptr.c holds programs of both kinds: each is judged by xdptool and
by the kernel (loaded as XDP with the object's BTF, as libbpf loads it) -- the same
verdict, and for a rejection the same first line.  RECORDED is what Linux 6.18 answered,
so that the verdicts are checked without a kernel too.  The accepted programs then run
on the vm and the jit and under BPF_PROG_TEST_RUN: the same verdict, packet and maps.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from engine_diff import agrees_with_the_kernel, outcomes
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.vm import VmEngine
from xdptool.verifier import analyze

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "data" / "verifier" / "dynptr.c"
_KERNEL = kernel_unavailable_reason()

_spec = importlib.util.spec_from_file_location("verifier_cases", HERE / "verifier_corpus" / "cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

# program -> Linux 6.18's verdict (None: accepted; else the first line of its error)
RECORDED = {
    "slice_proto": None, "slice_with_buffer": None, "read_write": None, "read_past_end": None, "size_adjust": None,
    "bad_flags": None, "clone_slice": None, "slice_oob_null": None, "local_map": None, "xdp_data_is_null": None,
    "ringbuf_submit": None, "ringbuf_discard": None, "ringbuf_clone_submit": None, "overwrite_unreferenced": None,
    "global_dynptr": None, "slice_after_overwrite": None,
    "slice_rdwr_swap": "bpf_dynptr_slice_rdwr() is not allowed",
    "uninit_slice": "Expected an initialized dynptr as arg #0",
    "ringbuf_leak": "Unreleased reference id=2 alloc_insn=6",
    "ringbuf_overwrite": "cannot overwrite referenced dynptr",
    "read_dynptr_bytes": "invalid read from stack off -16+0 size 8",
    "helper_writes_dynptr": "potential write to dynptr at off=-32 disallowed",
    "slice_after_adjust_head": "R7 invalid mem access 'scalar'",
    "rdonly_slice_write": "R0 cannot write into rdonly_mem",
    "slice_past_size": "invalid access to memory, mem_size=14 off=14 size=1",
    "slice_unchecked": "R0 invalid mem access 'rdonly_mem_or_null'",
    "slice_var_size": "R4 must be a known constant",
    "submit_xdp_dynptr": "arg 1 is an unacquired reference",
    "from_mem_stack": "Unsupported reg type fp for bpf_dynptr_from_mem data",
    "misaligned_dynptr": "cannot pass in dynptr at an offset=-20",
    "partial_overwrite": "Expected an initialized dynptr as arg #0",
    "clone_after_release": "Expected an initialized dynptr as arg #0",
    "data_after_submit": "R7 invalid mem access 'scalar'",
    "data_after_overwrite": "R1 invalid mem access 'scalar'",
    "global_uninit": "Expected an initialized dynptr as arg #0",
    "global_not_stack": "arg#0 expected pointer to stack or const struct bpf_dynptr",
    "data_len_var": "R3 is not a known constant'",
    "slice_buffer_too_small": "invalid read from stack R3 off -20+4 size 8",
}


def _eth(length: int, proto: bytes = b"\x08\x00", fill: int = 0x45) -> bytes:
    head = bytes(range(1, 7)) + bytes(range(0xa1, 0xa7)) + proto
    return head + bytes([fill, 0, 0, 40, 0, 0, 0, 0, 64, 17]) + bytes((i * 7) & 0xff for i in range(length))


PACKETS = [_eth(0)[:14], _eth(3), _eth(6, b"\x86\xdd"), _eth(20), _eth(60), _eth(200, fill=0x46)]
RUN = [name for name, verdict in RECORDED.items() if verdict is None]


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("needs clang")
    out = tmp_path_factory.mktemp("dynptr") / "dynptr.o"
    subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(SOURCE),
                    "-o", str(out)], check=True, capture_output=True)
    from xdptool.elf import load_object

    return load_object(str(out))


def _ours(program) -> str:
    result = analyze(program, collect_facts=False)
    return "accept" if result.accepted else "reject: " + result.error.first_line


def test_every_program_is_judged_as_linux_6_18_judged_it(obj):
    assert sorted(p.name for p in obj.programs) == sorted(RECORDED)
    wrong = [f"{name}: {_ours(obj.program(name))!r}, recorded {want!r}" for name, want in RECORDED.items()
             if cases.normalise(_ours(obj.program(name))) != cases.normalise("accept" if want is None
                                                                               else "reject: " + want)]
    assert not wrong, "\n".join(wrong)


def _kernel_says(program) -> str:
    from xdptool.kernel.load import KernelRejected, load_program
    from xdptool.kernel.maps import KernelMaps
    from xdptool.kernel.verify import program_maps

    with KernelMaps(program_maps(program), program.object) as kmaps:
        try:
            with load_program(program, kmaps.fds(), log_level=1, log_size=1 << 24, use_btf=True):
                return "accept"
        except KernelRejected as rejected:
            return "reject: " + cases.error_block(rejected.log)[0]


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
def test_every_program_agrees_with_the_running_kernel(obj):
    disagree = []
    for program in obj.programs:
        ours, kernel = _ours(program), _kernel_says(program)
        if cases.normalise(ours) != cases.normalise(kernel):
            disagree.append(f"{program.name}: xdptool {ours!r}, kernel {kernel!r}")
    assert not disagree, "\n".join(disagree)


def test_the_log_names_the_dynptr_and_its_slice(obj):
    log = analyze(obj.program("slice_proto"), log_level=2, collect_facts=False).log
    assert "fp-16=dynptr_xdp(id=" in log
    assert "R0=rdonly_mem_or_null(id=" in log and "sz=14" in log


# -- the engines ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RUN)
def test_vm_and_jit_agree(obj, name):
    _, want, vm_maps = outcomes(VmEngine, obj, name, PACKETS)
    jit, got, jit_maps = outcomes(JitEngine, obj, name, PACKETS)
    assert got == want and jit_maps == vm_maps
    assert all(o[4] is None for o in want), want  # no fault
    # the kfuncs and the dynptr helpers, the ring buffer's too, are native code in the jit
    kfuncs = {insn.reloc.symbol for insn in obj.program(name).insns if insn.is_kfunc_call}
    fallbacks = jit.helper_fallbacks()
    assert kfuncs <= set(fallbacks)
    assert not any(fallbacks.values()), fallbacks


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
@pytest.mark.parametrize("name", RUN)
def test_engines_agree_with_the_kernel(obj, name, engine):
    agrees_with_the_kernel(obj, name, engine, PACKETS, lambda dump: {m: v for m, v in dump.items() if m != "rb"})
