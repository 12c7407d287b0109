"""`xdptool test` end to end: passing and failing specs, JUnit, coverage, the pytest plugin."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from test_testing_spec import write
from xdptool.cli.main import cli

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")

DATA = Path(__file__).parent / "data" / "testing"
BLOCKLIST = Path(__file__).parent.parent / "programs" / "port_blocklist.c"

SPEC = f"""
program = "{BLOCKLIST}"

[[maps.blocklist]]
key = "0035"
value = "01"

[[case]]
name = "dns is blocked"
packet = "Ether()/IP(src='10.0.0.1')/UDP(sport=1234, dport=53)"
expect.verdict = "XDP_DROP"
expect.maps.drops = [{{ key = "0035", value = "01000000" }}]

[[case]]
name = "second dns drop counts two"
packet = "Ether()/IP(src='10.0.0.1')/UDP(sport=1234, dport=53)"
expect.verdict = "XDP_DROP"
expect.maps.drops = [{{ key = "0035", value = "02000000" }}]

[[case]]
name = "fresh maps start again"
fresh_maps = true
packet = "Ether()/IP(src='10.0.0.1')/UDP(sport=1234, dport=53)"
expect.maps.drops = [{{ key = "0035", value = "01000000" }}]

[[case]]
name = "http passes unchanged"
packet = "Ether()/IP()/TCP(dport=80)"
expect.verdict = "XDP_PASS"
expect.packet = "Ether()/IP()/TCP(dport=80)"
"""

FAILING = SPEC + """
[[case]]
name = "wrong expectations"
packet = "Ether()/IP()/TCP(dport=80)"
expect.verdict = "XDP_DROP"
expect.packet = "Ether()/IP()/TCP(dport=81)"
expect.maps.drops = [{ key = "0050", value = "01000000" }]
"""


def xdptool(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("target", ["vm", "jit"])
def test_passing_spec(tmp_path, target):
    result = xdptool("test", str(write(tmp_path, SPEC)), "--target", target)
    assert result.exit_code == 0, result.output
    assert "4 passed, 0 failed" in result.output


def test_failing_spec_names_case_field_expected_and_actual(tmp_path):
    result = xdptool("test", str(write(tmp_path, FAILING)), "--target", "vm")
    assert result.exit_code == 1
    assert "4 passed, 1 failed" in result.output
    failure = result.output[result.output.index("FAIL") :]
    assert "wrong expectations" in failure
    assert "verdict: expected XDP_DROP, got XDP_PASS" in failure
    assert "TCP.dport: expected 81, got 80" in failure
    assert "map drops key 80 (0050): expected 1 (01000000), got <absent>" in failure  # through BTF, with the bytes


def test_json_report(tmp_path):
    result = xdptool("test", str(write(tmp_path, FAILING)), "--target", "vm", "--json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert (doc["passed"], doc["failed"]) == (4, 1)
    assert [c["passed"] for c in doc["cases"]] == [True, True, True, True, False]


def test_junit_parsed_back(tmp_path):
    spec_a = write(tmp_path, FAILING, "a.toml")
    spec_b = write(tmp_path, SPEC, "b.toml")
    junit = tmp_path / "report.xml"
    result = xdptool("test", str(spec_a), str(spec_b), "--target", "vm", "--junit", str(junit))
    assert result.exit_code == 1
    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures")) == ("9", "1")
    suites = root.findall("testsuite")
    assert [(s.get("tests"), s.get("failures")) for s in suites] == [("5", "1"), ("4", "0")]
    failed = [c for c in root.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name") for c in failed] == ["wrong expectations[vm]"]
    assert "TCP.dport" in failed[0].find("failure").text


def test_keyword_selects_cases(tmp_path):
    result = xdptool("test", str(write(tmp_path, FAILING)), "--target", "vm", "-k", "http or wrong")
    assert "1 passed, 1 failed" in result.output


def test_directory_of_specs(tmp_path):
    write(tmp_path, SPEC, "one.toml")
    write(tmp_path, SPEC, "two.toml")
    result = xdptool("test", str(tmp_path), "--target", "vm")
    assert result.exit_code == 0 and "8 passed, 0 failed" in result.output


def test_unknown_map_in_expectation_is_a_bad_spec(tmp_path):
    """README: an unknown map is a bad spec (exit 2 naming the file, line and key), not a failing case."""
    text = SPEC.replace('expect.maps.drops = [{ key = "0035", value = "01000000" }]\n\n[[case]]\nname = "second',
                        'expect.maps.nomap = [{ key = "00", value = "00" }]\n\n[[case]]\nname = "second', 1)
    path = write(tmp_path, text)
    line = next(n for n, t in enumerate(text.splitlines(), 1) if "expect.maps.nomap" in t)
    result = xdptool("test", str(path), "--target", "vm")
    assert result.exit_code == 2 and f"{path}:{line}: expect.maps.nomap: no map named 'nomap'" in result.output


def test_unknown_map_in_initial_state_exits_2(tmp_path):
    text = SPEC.replace("[[maps.blocklist]]", "[[maps.nosuchmap]]")
    result = xdptool("test", str(write(tmp_path, text)), "--target", "vm")
    assert result.exit_code == 2 and "nosuchmap" in result.output


def test_engines_disagreeing_fail_with_target_all(tmp_path, monkeypatch):
    from xdptool.runtime.contract import RunResult
    from xdptool.testing import runner

    monkeypatch.setattr(runner, "available_targets", lambda: ["vm", "jit"])
    original = runner.TargetRun.run

    def skewed(self, case):
        result, maps_doc = original(self, case)
        if self.target == "jit":
            result = RunResult(retval=result.retval, packet=bytes(result.packet) + b"\0")
        return result, maps_doc

    monkeypatch.setattr(runner.TargetRun, "run", skewed)
    result = xdptool("test", str(write(tmp_path, SPEC)), "--target", "all")
    assert result.exit_code == 1
    assert "engines disagree: jit and vm differ" in result.output


def test_coverage_on_a_hand_checked_program(tmp_path):
    """cov.c compiles to 7 instructions (see its disassembly):
    0-3 load data/data_end, add 20, r0 = 1; 4 `if r1 > r2 goto +1`; 5 r0 = 2; 6 exit.
    A 16-byte packet takes the jump: 6 of 7 instructions run, pc 5 does not,
    and of the jump's two ways only 'taken' is seen."""
    shutil.copy(DATA / "cov.c", tmp_path / "cov.c")
    spec = write(tmp_path, 'program = "cov.c"\n[[case]]\npacket_hex = "000102030405060708090a0b0c0d0e0f"\nexpect.verdict = "XDP_DROP"\n')
    lcov = tmp_path / "out.lcov"
    result = xdptool("test", str(spec), "--target", "vm", "--coverage", "--lcov", str(lcov))
    assert result.exit_code == 0, result.output
    assert "insns 6/7" in result.output and "branches 1/2" in result.output
    text = lcov.read_text().splitlines()
    assert "BRDA:11,4,0,0" in text and "BRDA:11,4,1,1" in text  # fall-through not seen, taken seen once
    assert "BRF:2" in text and "BRH:1" in text
    # A second case that falls through covers everything.
    spec.write_text(spec.read_text() + '[[case]]\npacket_hex = "' + "00" * 20 + '"\nexpect.verdict = "XDP_PASS"\n')
    result = xdptool("test", str(spec), "--target", "vm", "--coverage", "--lcov", str(lcov))
    assert "insns 7/7" in result.output and "branches 2/2" in result.output


def test_pytest_plugin_fixture_and_spec_items(pytester):
    pytester.makepyfile(
        test_fw=f"""
        from scapy.all import Ether, IP, UDP, TCP

        def test_blocked(xdp):
            prog = xdp.load({str(BLOCKLIST)!r})
            prog.maps["blocklist"][b"\\x00\\x35"] = b"\\x01"
            res = prog.run(Ether()/IP()/UDP(dport=53))
            assert res.verdict == "XDP_DROP"
            assert prog.maps["drops"][b"\\x00\\x35"] == (1).to_bytes(4, "little")
            res = prog.run(Ether()/IP()/TCP(dport=80))
            assert res.verdict == "XDP_PASS" and res.packet[TCP].dport == 80
        """
    )
    write(pytester.path, SPEC, "test_spec.toml")
    write(pytester.path, FAILING, "test_bad.toml")
    result = pytester.runpytest("--xdp-target", "vm")  # the plugin loads through its pytest11 entry point
    result.assert_outcomes(passed=9, failed=1)  # the fixture test, then one item per case: 4 + 4 pass, 1 fails
    result.stdout.fnmatch_lines(["*wrong expectations*verdict: expected XDP_DROP, got XDP_PASS*"])


pytest_plugins = ["pytester"]
