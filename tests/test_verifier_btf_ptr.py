"""BTF-typed kernel pointers (verifier/btf_ptr.py) against the live kernel.

tests/data/verifier/btf_ptr.c is built against the running kernel's own types (vmlinux.h,
as bpftool dumps /sys/kernel/btf/vmlinux): struct offsets differ from kernel to kernel, so
the programs are judged by the kernel they run on, each one by xdptool and by the kernel
(loaded as XDP, with the object's BTF, as libbpf loads it): the same verdict, and for a
rejection the same first line of the error.  Without CAP_BPF, clang or bpftool the
kernel-differential test is skipped with the reason; what needs no kernel runs anyway.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from xdptool.errors import XdpError
from xdptool.verifier import analyze

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "data" / "verifier" / "btf_ptr.c"
VMLINUX = Path("/sys/kernel/btf/vmlinux")

_spec = importlib.util.spec_from_file_location("verifier_cases", HERE / "verifier_corpus" / "cases.py")
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)


def _clang() -> str | None:
    """The newest clang installed (decl tags on parameters need clang 14+)."""
    for version in range(25, 13, -1):
        if shutil.which(f"clang-{version}"):
            return f"clang-{version}"
    return shutil.which("clang")


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """The probe object built against the running kernel's types, or a skip with the reason."""
    from xdptool.kernel import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    clang, bpftool = _clang(), shutil.which("bpftool")
    if not VMLINUX.exists() or clang is None or bpftool is None:
        pytest.skip("needs /sys/kernel/btf/vmlinux, clang and bpftool to build against the running kernel's types")
    out = tmp_path_factory.mktemp("btf_ptr")
    header = subprocess.run([bpftool, "btf", "dump", "file", str(VMLINUX), "format", "c"],
                            capture_output=True, text=True, check=True).stdout
    (out / "vmlinux.h").write_text(header)
    obj = out / "btf_ptr.o"
    built = subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-I", str(out), "-c", str(SOURCE), "-o", str(obj)],
                           capture_output=True, text=True)
    if built.returncode:
        pytest.skip(f"{clang} cannot build the probes: {built.stderr.strip().splitlines()[-1]}")
    from xdptool.elf import load_object

    return load_object(str(obj))


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
def test_every_probe_agrees_with_the_kernel(probes):
    assert len(probes.programs) >= 50
    disagree = []
    for program in probes.programs:
        result = analyze(program, collect_facts=False)
        ours = "accept" if result.accepted else "reject: " + result.error.first_line
        kernel = _kernel_says(program)
        if cases.normalise(ours) != cases.normalise(kernel):
            disagree.append(f"{program.name}: xdptool {ours!r}, kernel {kernel!r}")
    assert not disagree, "\n".join(disagree)


@pytest.mark.kernel
def test_log_names_the_struct_and_its_trust(probes):
    """print_reg_state: a BTF pointer prints its trust, `ptr_` and the struct's name."""
    log = analyze(probes.program("deref_rcu_nocheck"), log_level=2, collect_facts=False).log
    assert "R0=trusted_ptr_task_struct()" in log
    assert "=rcu_ptr_task_struct()" in log


@pytest.mark.kernel
def test_a_btf_file_given_is_used(probes, tmp_path):
    """`--btf FILE`: a copy of the kernel's BTF types the program as the running kernel's do."""
    copy = tmp_path / "vmlinux.btf"
    copy.write_bytes(VMLINUX.read_bytes())
    program = probes.program("rel_trusted")
    assert analyze(program, collect_facts=False, btf=str(copy)).error.first_line == \
        "release kernel function bpf_task_release expects refcounted PTR_TO_BTF_ID"


def _current_task_program():
    """r0 = bpf_get_current_task_btf(); r0 = *(u32 *)(r0 + 0); exit -- no kernel types needed to build."""
    from xdptool.ebpf.asm import assemble
    from xdptool.ebpf.insn import renumber
    from xdptool.elf.model import Object, Program, ProgType, Subprogram

    insns = renumber(assemble("call 158\nr0 = *(u32 *)(r0 + 0)\nexit\n"))
    end = insns[-1].pc + insns[-1].slots
    prog = Program("current", "xdp", ProgType.XDP, "xdp", insns, [Subprogram("current", 0, end, "xdp")], "GPL",
                   attach_type=37)
    prog.object = Object("current.s", [prog], {}, "GPL", 0, [])
    return prog


def test_without_the_kernels_btf_the_program_is_not_verified(tmp_path):
    """No kernel BTF: exit 2 naming what is missing, never a verdict."""
    with pytest.raises(XdpError, match=r"needs the kernel's BTF \(/sys/kernel/btf/vmlinux, or --btf FILE\); .*"
                                       r"No such file"):
        analyze(_current_task_program(), collect_facts=False, btf=str(tmp_path / "absent"))
    not_btf = tmp_path / "not.btf"
    not_btf.write_bytes(b"\0" * 64)
    with pytest.raises(XdpError, match="needs the kernel's BTF .*bad magic"):
        analyze(_current_task_program(), collect_facts=False, btf=str(not_btf))


def test_cli_btf_option_reaches_the_verifier(tmp_path):
    from click.testing import CliRunner

    from xdptool.cli.main import cli

    source = tmp_path / "current.c"
    source.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                      'SEC("xdp") int prog(struct xdp_md *ctx) { return bpf_get_current_task_btf() ? 2 : 1; }\n'
                      'char _license[] SEC("license") = "GPL";\n')
    if _clang() is None:
        pytest.skip("needs clang")
    result = CliRunner().invoke(cli, ["verify", str(source), "--btf", str(tmp_path / "absent")])
    assert result.exit_code == 2, result.output
    assert "needs the kernel's BTF" in result.output
