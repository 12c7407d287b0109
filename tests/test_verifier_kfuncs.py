"""Kfunc calls (platform/kfuncs.py): the kernel's refusals in its words, the others named
as not implemented (exit 2, one line), and the engines saying they do not run kfuncs.

tests/data/verifier/kfuncs.c, built GPL and proprietary; the kernel's answers were
recorded from Linux 6.18 (the `kernel` test asks the running kernel again, with the
kfuncs resolved against its BTF as libbpf resolves them)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.elf import load_object
from xdptool.platform.kfuncs import NOT_FOR_XDP, OTHER_XDP_KFUNCS, XDP_KFUNCS

SOURCE = Path(__file__).resolve().parent / "data" / "verifier" / "kfuncs.c"
PACKET = "ff" * 6 + "00" * 6 + "0800" + "00" * 40

# program -> the kernel's first error line (GPL object), or None where xdptool says "not implemented"
REFUSED = {
    "rx_hash": "metadata kfuncs require device-bound program",
    "rx_timestamp": "metadata kfuncs require device-bound program",
    "skb_dynptr": "calling kernel function bpf_dynptr_from_skb is not allowed",
    "sock_destroy": "calling kernel function bpf_sock_destroy is not allowed",
    "task_acquire": "arg#0 pointer type STRUCT task_struct must point to scalar, or struct with scalar",
}
NOT_IMPLEMENTED = {
    "rcu_lock": "verifier: calls to kfunc bpf_rcu_read_lock are not implemented (RCU sections)",
    "no_such_kfunc": "verifier: kfunc bpf_no_such_kfunc is not in xdptool's table of Linux 6.18 kfuncs",
}
NON_GPL = "cannot call kernel function from non-GPL compatible program"


@pytest.fixture(scope="module")
def objects(tmp_path_factory) -> dict[str, Path]:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    out = tmp_path_factory.mktemp("kfuncs")
    built = {}
    for kind, license in (("gpl", "GPL"), ("proprietary", "Proprietary")):
        built[kind] = out / f"kfuncs_{kind}.o"
        subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                        f'-DLICENSE="{license}"', "-c", str(SOURCE), "-o", str(built[kind])], check=True)
    return built


def cli_run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_the_table_is_consistent():
    assert not set(XDP_KFUNCS) & NOT_FOR_XDP and not set(OTHER_XDP_KFUNCS) & (NOT_FOR_XDP | set(XDP_KFUNCS))
    assert {"bpf_xdp_metadata_rx_timestamp", "bpf_xdp_metadata_rx_hash", "bpf_xdp_metadata_rx_vlan_tag",
            "bpf_dynptr_from_xdp", "bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy",
            "bpf_xdp_flow_lookup"} <= set(XDP_KFUNCS)
    assert all(k.name.startswith("bpf_") and k.since for k in XDP_KFUNCS.values())


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refusals_in_the_kernels_words(objects, name):
    result = cli_run("verify", objects["gpl"], "-p", name)
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == REFUSED[name]


@pytest.mark.parametrize("name", sorted(NOT_IMPLEMENTED))
def test_unmodelled_kfuncs_are_one_line_exit_2(objects, name):
    result = cli_run("verify", objects["gpl"], "-p", name)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"error: {NOT_IMPLEMENTED[name]}"]


def test_kfuncs_need_a_gpl_program(objects):
    result = cli_run("verify", objects["proprietary"], "-p", "iter_num")
    assert result.exit_code == 1 and result.output.splitlines()[0] == NON_GPL


def test_a_kfunc_call_is_a_kfunc_call_in_the_model(objects):
    program = load_object(str(objects["gpl"])).program("rx_hash")
    (call,) = [i for i in program.insns if i.is_call]
    assert call.is_kfunc_call and call.reloc.symbol == "bpf_xdp_metadata_rx_hash"


@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_engines_say_they_do_not_run_kfuncs(objects, engine):
    result = cli_run("run", objects["gpl"], "-p", "rx_hash", "--target", engine, "--packet", PACKET)
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert "kfunc bpf_xdp_metadata_rx_hash" in line and "not implement" in line
    ran = cli_run("run", objects["gpl"], "-p", "iter_num", "--target", engine, "--packet", PACKET)
    assert ran.exit_code == 0, ran.output  # the number iterator runs (tests/test_engine_iter_num.py)


@pytest.mark.kernel
@pytest.mark.parametrize("name, kind", [*((n, "gpl") for n in sorted(REFUSED)), ("iter_num", "proprietary")])
def test_the_running_kernel_agrees(objects, name, kind):
    from xdptool.kernel import kernel_unavailable_reason, verify_with_kernel

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    verdict = verify_with_kernel(load_object(str(objects[kind])).program(name))
    assert not verdict.accepted
    assert verdict.last_line == (REFUSED[name] if kind == "gpl" else NON_GPL)
