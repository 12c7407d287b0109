"""The test specs of the bundled example programs (programs/specs/*.toml), run through
`xdptool test` on every engine that is available here.

Specs that run everywhere go through `--target all`, so the runner also demands
that the engines agree with each other. Specs that pin `target` (the *_runts specs,
whose frames are shorter than the 14 bytes the kernel's test run accepts, and
specs that depend on the userspace engines' deterministic clock) run on each
userspace engine in turn. Programs the NFP offload refuses ("NFP offload: no" in
their header) must be refused by nfp-emu, which then skips their cases with the reason.

The expectations in the specs are derived from the C sources and the protocols,
never from an engine's output; the last tests here make sure that a wrong
expectation is caught, i.e. that these tests can fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.testing.runner import available_targets, run_spec
from xdptool.testing.spec import load_spec

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
SPECS_DIR = PROGRAMS / "specs"
SPECS = sorted(SPECS_DIR.glob("*.toml"))
ETH_HLEN = 14  # the kernel's BPF_PROG_TEST_RUN refuses shorter XDP packets
MIN_CASES, MAX_CASES = 4, 12


def offloadable(spec) -> bool:
    """What the program's header says ("NFP offload: yes|no"); the NFP tests check the claim."""
    return re.search(r"NFP offload:\s*yes", spec.program.read_text(), re.IGNORECASE) is not None


def engines_for(spec) -> set[str]:
    """The available engines that can load the spec's program."""
    return {t for t in available_targets() if t != "nfp-emu" or offloadable(spec)}


def userspace_targets(spec) -> list[str]:
    return sorted(t for t in engines_for(spec) if t != "kernel")


def pins_target(spec) -> bool:
    """A spec that names its target is not meant for `--target all` (see the module doc)."""
    return spec.target is not None


def run_cli(path: Path, target: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["test", str(path), "--target", target, "--json"])
    assert result.exit_code in (0, 1), f"{path.name} on {target}: exit {result.exit_code}: {result.stderr or result.output}"
    return result.exit_code, json.loads(result.stdout)


def failures_of(document: dict) -> list[str]:
    return [f"{c['case']} [{c['target']}]: {'; '.join(c['failures'])}" for c in document["cases"] if c["failures"]]


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_spec_passes_on_every_available_engine(path: Path):
    spec = load_spec(path)
    targets = userspace_targets(spec) if pins_target(spec) else ["all"]
    for target in targets:
        code, document = run_cli(path, target)
        assert failures_of(document) == [], f"{path.name} on {target}"
        assert code == 0 and document["failed"] == 0
        ran = {c["target"] for c in document["cases"] if not c["skipped"]}
        expected = engines_for(spec) if target == "all" else {target}
        if any(not case.skip for case in spec.cases):
            assert ran == expected, f"{path.name}: ran on {sorted(ran)}, expected {sorted(expected)}"
        refused = {c["target"] for c in document["cases"] if (c["skipped"] or "").startswith("nfp-emu cannot load")}
        assert refused == (set(available_targets()) - engines_for(spec) if target == "all" else set())
        assert document["passed"] + document["skipped"] == len(spec.cases) * len(expected | refused)
    if pins_target(spec) and len(targets) > 1:  # one CLI run per engine: check they agree too
        results = run_spec(spec, targets)
        assert [f"{r.test_id}: {r.failures}" for r in results if r.failures] == []


def test_every_example_program_has_a_spec():
    programs = sorted(p.stem for p in PROGRAMS.glob("*.c"))
    assert len(programs) == 17
    missing = [name for name in programs if not (SPECS_DIR / f"{name}.toml").exists()]
    assert missing == []
    for path in SPECS:
        source = load_spec(path).program
        assert source.suffix == ".c" and source.parent == PROGRAMS and source.exists(), path.name
        assert path.stem == source.stem or path.stem.startswith(source.stem + "_"), path.name


@pytest.mark.parametrize("name", sorted(p.stem for p in PROGRAMS.glob("*.c")))
def test_each_program_has_enough_cases(name: str):
    main = load_spec(SPECS_DIR / f"{name}.toml")
    assert MIN_CASES <= len(main.cases) <= MAX_CASES
    names = [case.name for case in main.cases]
    assert len(set(names)) == len(names), "case names must be unique within a spec"
    others = [load_spec(p) for p in SPECS if p.stem.startswith(name + "_")]
    for extra in others:
        assert 2 <= len(extra.cases) <= MAX_CASES, extra.path.name
    assert len(main.cases) + sum(len(s.cases) for s in others) >= MIN_CASES


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.stem)
def test_short_frames_live_only_in_userspace_specs(path: Path):
    """Runts need a spec pinned to a userspace target; specs for every engine have none."""
    spec = load_spec(path)
    lengths = [len(case.packet) for case in spec.cases]
    if path.stem.endswith("_runts"):
        assert pins_target(spec) and spec.target != "kernel"
        assert all(n < ETH_HLEN for n in lengths), lengths
    else:
        assert all(n >= ETH_HLEN for n in lengths), lengths
    if pins_target(spec):
        header = path.read_text().split("\nprogram")[0]
        assert "vm/jit only" in header, "a pinned spec says why in its header comment"


def test_global_data_bss_layout_matches_the_symbol_table():
    """global_data specs assume clang's .bss layout; llvm-objdump -t is the oracle."""
    objdump = shutil.which("llvm-objdump") or shutil.which("llvm-objdump-14")
    if objdump is None:
        pytest.skip("llvm-objdump is not installed")
    from xdptool.testing.runner import build_cached

    obj = build_cached(PROGRAMS / "global_data.c")
    table = subprocess.run([objdump, "-t", str(obj)], capture_output=True, text=True, check=True).stdout
    offsets = {m[1]: int(m[0], 16) for m in re.findall(r"^([0-9a-f]{16})\s.*\.bss\s+[0-9a-f]{16}\s+(\w+)$", table, re.M)}
    assert offsets == {"dropped_packets": 0, "dropped_bytes": 8, "passed_packets": 16}
    assert "dropped_packets @0, dropped_bytes @8, passed_packets @16" in (SPECS_DIR / "global_data.toml").read_text()


# -- the specs can fail ------------------------------------------------------------

MUTATIONS = [
    # (spec, text to replace once, replacement, what the runner must report)
    ("port_blocklist", 'UDP(dport=9999)"', 'UDP(dport=11211)"', "verdict: expected XDP_PASS, got XDP_DROP"),
    ("port_rewrite", "UDP(sport=40000, dport=53)/Raw(b'mdns query')", "UDP(sport=40000, dport=54)/Raw(b'mdns query')", "packet:"),
    ("l4_lb", "dst='02:00:00:00:01:01')/IP(src='10.0.0.1', dst='10.1.0.1', id=1)", "dst='02:00:00:00:01:02')/IP(src='10.0.0.1', dst='10.1.0.1', id=1)", "packet:"),
    ("ip_parse", '{ key = "11000000", value = "0100000000000000" }]\nexpect.maps.parse_stats', '{ key = "11000000", value = "0200000000000000" }]\nexpect.maps.parse_stats', "map l4_counts key 17 (11000000)"),
    ("proto_counters", 'key = "11000000", value = ["3c00000000000000", "0000000000000000"]', 'key = "11000000", value = ["0000000000000000", "3c00000000000000"]', "map bytes key 17 (11000000)"),
]


@pytest.mark.parametrize("name,old,new,reported", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_a_wrong_expectation_fails(tmp_path: Path, name: str, old: str, new: str, reported: str):
    text = (SPECS_DIR / f"{name}.toml").read_text()
    assert text.count(old) == 1, "the mutation must hit exactly one expectation"
    mutated = tmp_path / f"{name}.toml"
    mutated.write_text(text.replace(old, new).replace('program = "../', f'program = "{PROGRAMS}/'))
    code, document = run_cli(mutated, "vm")
    failures = failures_of(document)
    assert code == 1 and document["failed"] >= 1
    assert any(reported in failure for failure in failures), failures
