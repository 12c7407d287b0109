"""Specs: the reference page covers every key and its examples parse; selecting cases
(`-k`, pytest node ids) never changes a case's result; per-CPU expectations take one
value for every CPU and say what was compared; the pytest plugin makes one item per
case and honours the spec's target and targets."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import PROGRAMS, ROOT
from xdptool.cli.main import cli
from xdptool.testing import spec as spec_module

DOC = ROOT / "docs" / "spec-format.md"
UDP_53 = "Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(sport=5353, dport=53)"
UDP_80 = UDP_53.replace("dport=53", "dport=80")

COUNTING = f'''program = "{PROGRAMS / 'port_blocklist.c'}"
target = "vm"

[[maps.blocklist]]
key = "0035"
value = "01"

[[case]]
name = "first drop counts 1"
packet = "{UDP_53}"
expect.maps.drops = [{{ key = "0035", value = "01000000" }}]

[[case]]
name = "second drop counts 2"
packet = "{UDP_53}"
expect.maps.drops = [{{ key = "0035", value = "02000000" }}]

[[case]]
name = "port 80 from fresh maps"
fresh_maps = true
packet = "{UDP_80}"
expect.verdict = "XDP_PASS"
expect.maps.drops = [{{ key = "0035", absent = true }}]

[[case]]
name = "then a drop counts 1 again"
packet = "{UDP_53}"
expect.maps.drops = [{{ key = "0035", value = "01000000" }}]
'''


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# -- the reference page -------------------------------------------------------------


def test_the_reference_page_documents_every_key():
    text = DOC.read_text()
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE))
    keys = (spec_module.TOP_KEYS | spec_module.CASE_KEYS | spec_module.EXPECT_KEYS | spec_module.ENTRY_KEYS)
    assert keys <= documented, sorted(keys - documented)
    assert set(spec_module.CTX_KEYS) <= set(re.findall(r"`([a-z_]+)`", text))
    assert documented - keys == set(), sorted(documented - keys)  # no documented key the parser refuses


def doc_examples() -> list[str]:
    return re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.DOTALL)


@pytest.mark.parametrize("index", range(len(doc_examples())))
def test_every_example_on_the_page_parses(tmp_path, index):
    example = doc_examples()[index]
    text = re.sub(r'^program = "[^"]*"', lambda m: f'program = "{PROGRAMS / Path(m.group(0).split(chr(34))[1]).name}"',
                  example, flags=re.MULTILINE)
    if "program =" not in text:
        text = f'program = "{PROGRAMS / "port_blocklist.c"}"\n' + text
    if "[[case]]" not in text:
        text += '\n[[case]]\npacket_hex = "00"\n'
    path = tmp_path / "example.toml"
    path.write_text(text)
    spec_module.load_spec(path)


def test_the_first_example_passes(tmp_path):
    example = doc_examples()[0].replace('program = "../port_blocklist.c"', f'program = "{PROGRAMS / "port_blocklist.c"}"')
    path = tmp_path / "example.toml"
    path.write_text(example)
    result = invoke("test", path, "--target", "vm")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "3 passed, 0 failed"


# -- selection ------------------------------------------------------------------------


@pytest.fixture
def counting(tmp_path):
    path = tmp_path / "test_counting.toml"
    path.write_text(COUNTING)
    return path


def test_cases_pass_together_and_alone(counting):
    everything = invoke("test", counting)
    assert everything.exit_code == 0, everything.output
    names = ["first drop counts 1", "second drop counts 2", "port 80 from fresh maps", "then a drop counts 1 again"]
    for name in names:
        alone = invoke("test", counting, "-k", name.split()[0] + " and " + name.split()[1], "--json")
        assert alone.exit_code == 0, (name, alone.output)
        import json

        document = json.loads(alone.stdout)
        assert [c["case"] for c in document["cases"]] == [name], name  # only the selected case is reported


def test_only_the_cases_a_selection_depends_on_run():
    from xdptool.testing.runner import needed_cases
    from xdptool.testing.spec import Case

    cases = [Case(name=str(i), packet=b"", line=1, fresh_maps=i in (2, 4)) for i in range(6)]
    assert needed_cases(cases, [False, True, False, False, False, False]) == [True, True, False, False, False, False]
    assert needed_cases(cases, [False, False, False, True, False, False]) == [False, False, True, True, False, False]
    assert needed_cases(cases, [False, False, False, False, True, False]) == [False, False, False, False, True, False]
    assert needed_cases(cases, [False] * 5 + [True]) == [False] * 4 + [True, True]


# -- per-CPU expectations ---------------------------------------------------------------


PERCPU = f'''program = "{PROGRAMS / 'proto_counters.c'}"
target = "vm"
ncpus = {{ncpus}}

[[case]]
name = "one value for every CPU"
packet = "{UDP_53}"
expect.maps.bytes = [{{{{ key = "11000000", value = "2a00000000000000" }}}}]
'''


def test_one_value_for_a_per_cpu_map_means_every_cpu(tmp_path):
    path = tmp_path / "percpu.toml"
    path.write_text(PERCPU.format(ncpus=1))
    assert invoke("test", path).exit_code == 0
    path.write_text(PERCPU.format(ncpus=2))
    result = invoke("test", path)
    assert result.exit_code == 1
    assert ("map bytes key 17 (11000000) (per-CPU, 2 CPUs): expected 42 (2a00000000000000) on every CPU, "
            "got cpu0 42 (2a00000000000000), cpu1 0 (0000000000000000)") in result.stdout


def test_a_list_of_the_wrong_length_says_how_many_cpus_ran(tmp_path):
    path = tmp_path / "percpu.toml"
    path.write_text(PERCPU.format(ncpus=2).replace('value = "2a00000000000000"', 'value = ["2a00000000000000"]'))
    result = invoke("test", path)
    assert "expected values for 1 CPUs, the run has 2" in result.stdout


# -- pytest --------------------------------------------------------------------------------


pytest_plugins = ("pytester",)


@pytest.fixture
def pytest_run(pytester):
    """pytest in-process in a directory of its own (the xdptool plugin comes with the package)."""

    def run(directory: Path, *args: str, node: str | None = None):
        os.chdir(directory)
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q", "--assert=plain", "--rootdir", str(directory),
                                              node or str(directory), *args)
        result.stdout_text = "\n".join(result.outlines)
        return result

    return run


def test_pytest_runs_one_item_per_case_named_by_it(counting, pytest_run):
    run = pytest_run(counting.parent, "-v", "-v")
    assert run.ret == 0, run.stdout_text
    assert re.findall(r"^(test_counting.toml::.*) PASSED", run.stdout_text, re.MULTILINE) == [
        f"test_counting.toml::{name}" for name in
        ("first drop counts 1", "second drop counts 2", "port 80 from fresh maps", "then a drop counts 1 again")]


def test_pytest_selection_keeps_results(counting, pytest_run):
    run = pytest_run(counting.parent, "-k", "second")
    assert run.ret == 0 and "1 passed, 3 deselected" in run.stdout_text, run.stdout_text
    node = pytest_run(counting.parent, node="test_counting.toml::then a drop counts 1 again")
    assert node.ret == 0 and "1 passed" in node.stdout_text, node.stdout_text


def test_pytest_honours_the_spec_target_and_targets(counting, pytest_run):
    counting.write_text(COUNTING.replace('target = "vm"', 'target = "all"\ntargets = ["vm", "jit"]'))
    failing = counting.parent / "test_failing.toml"
    failing.write_text(COUNTING.replace('value = "02000000"', 'value = "05000000"'))
    run = pytest_run(counting.parent, "-v", "-v", "-rs")
    assert run.ret == 1, run.stdout_text
    assert "test_counting.toml::first drop counts 1[vm] PASSED" in run.stdout_text
    assert "test_counting.toml::first drop counts 1[jit] PASSED" in run.stdout_text
    # engines the spec excludes (kernel, nfp-emu where available) are skipped with the reason
    skipped = re.findall(r"SKIPPED \[\d+\] .*", run.stdout_text)
    assert all("case limited to vm, jit" in line for line in skipped), skipped
    failed = re.findall(r"^(test_failing.toml::.*) FAILED", run.stdout_text, re.MULTILINE)
    assert failed == ["test_failing.toml::second drop counts 2"]  # its own target: vm alone
    assert "map drops key 53 (0035): expected 5 (05000000), got 2 (02000000)" in run.stdout_text
