"""Program types from section names (libbpf 1.x, libbpf 0.x, iproute2) and `verify --type`.

tests/data/verifier/sections.c has one program per convention; the verdicts were
recorded from Linux 6.18 with `xdptool verify --kernel` (the `kernel` test asks
the running kernel again).  Devmap programs may read xdp_md.egress_ifindex, no
other XDP program may (net/core/filter.c xdp_is_valid_access).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.elf import load_object
from xdptool.elf.sections import XDP_TYPE_NAMES, program_def, section_def
from xdptool.platform.programs import AttachType, ProgType

SOURCE = Path(__file__).resolve().parent / "data" / "verifier" / "sections.c"
EGRESS_REJECT = "invalid bpf_context access off=20 size=4"
A = AttachType

# program -> (section, expected_attach_type, frags, the kernel's verdict: None accepted, else its message)
PROGRAMS = {
    "plain": ("xdp", A.XDP, False, None),
    "frags": ("xdp.frags", A.XDP, True, None),
    "devmap_egress": ("xdp/devmap", A.XDP_DEVMAP, False, None),
    "devmap_frags_egress": ("xdp.frags/devmap", A.XDP_DEVMAP, True, None),
    "cpumap_pass": ("xdp/cpumap", A.XDP_CPUMAP, False, None),
    "cpumap_egress": ("xdp/cpumap", A.XDP_CPUMAP, False, EGRESS_REJECT),
    "xdp_egress": ("xdp", A.XDP, False, EGRESS_REJECT),
    "legacy_xdp1": ("xdp1", A.XDP, False, None),  # libbpf 0.x: "xdp" matched as a prefix
    "legacy_xdp_prog": ("xdp_prog", A.XDP, False, None),
    "legacy_tail": ("xdp_prog/0", A.XDP, False, None),
    "legacy_devmap_egress": ("xdp_devmap/egress", A.XDP_DEVMAP, False, None),  # libbpf 0.x "xdp_devmap/"
    "iproute2_from_netdev": ("from-netdev", 0, False, None),  # ip link set ... xdp obj O sec S
    "iproute2_prog": ("prog", 0, False, None),
}


@pytest.fixture(scope="module")
def obj(tmp_path_factory) -> Path:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    out = tmp_path_factory.mktemp("sections") / "sections.o"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", str(SOURCE),
                    "-o", str(out)], check=True)
    return out


def verify(*args) -> object:
    return CliRunner().invoke(cli, ["verify", *map(str, args)])


def test_sections_type_the_programs(obj):
    programs = {p.name: p for p in load_object(str(obj)).programs}
    for name, (section, attach, frags, _) in PROGRAMS.items():
        program = programs[name]
        assert (program.section, program.type, program.attach_type, program.frags) == (
            section, ProgType.XDP, attach, frags), name
    assert programs["classifier"].type == ProgType.SCHED_CLS


def test_libbpf_1x_alone_knows_none_of_the_legacy_names():
    for section in ("xdp1", "xdp_prog", "xdp_prog/0", "from-netdev", "xdp_devmap/egress"):
        assert section_def(section).prog_type == ProgType.UNSPEC
        assert program_def(section).convention in ("libbpf<1.0", "iproute2")


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_verdicts_are_the_kernels(obj, name):
    message = PROGRAMS[name][3]
    result = verify(obj, "-p", name)
    assert result.exit_code == (0 if message is None else 1), result.output
    if message is not None:
        assert result.output.splitlines()[0] == message


def test_a_program_of_another_type_is_refused_in_one_line(obj):
    result = verify(obj, "-p", "classifier")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: classifier: section 'tc' makes it a tc program (BPF_PROG_TYPE_SCHED_CLS); "
        "xdptool verifies XDP programs only (verify --type xdp checks it as one)"]


def test_type_overrides_the_section(obj):
    assert verify(obj, "-p", "xdp_egress", "--type", "xdp/devmap").exit_code == 0
    assert verify(obj, "-p", "devmap_egress", "--type", "xdp").output.splitlines()[0] == EGRESS_REJECT
    assert verify(obj, "-p", "classifier", "--type", "xdp").exit_code == 0
    assert verify(obj, "-p", "plain", "--type", "tc").exit_code == 2  # XDP flavours only
    assert XDP_TYPE_NAMES[0] == "xdp" and set(XDP_TYPE_NAMES) == {
        "xdp", "xdp.frags", "xdp/devmap", "xdp/cpumap", "xdp.frags/devmap", "xdp.frags/cpumap"}


@pytest.mark.kernel
@pytest.mark.parametrize("name, override", [*((n, None) for n in sorted(PROGRAMS)), ("xdp_egress", "xdp/devmap"),
                                            ("devmap_egress", "xdp"), ("classifier", "xdp")])
def test_the_running_kernel_loads_them_as_typed(obj, name, override):
    from xdptool.kernel import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    result = verify(obj, "-p", name, "--kernel", "--json", *(("--type", override) if override else ()))
    doc = json.loads(result.output)
    assert doc["verdicts_agree"], doc
    if override is None:
        assert doc["kernel"]["message"] == PROGRAMS[name][3]
    assert result.exit_code == (0 if doc["accepted"] else 1)
