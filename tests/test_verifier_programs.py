"""The verifier on real programs, through the CLI, with profiles, facts and the log.

Every example in programs/ must be accepted (the kernel accepts them all); the
fuzz test checks soundness against the reference VM: no program the verifier
accepts may fault on any packet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.verify import command as verify_command
from xdptool.elf import load_object
from xdptool.verifier import analyze
from xdptool.verifier.fuzz import random_packets, random_program

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "programs").glob("*.c"))  # built by the built_examples fixture
CORPUS = ROOT / "tests" / "verifier_corpus"


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_example_program_is_accepted(name, built_examples):
    path = built_examples[name]
    for program in load_object(str(path)).programs:
        result = analyze(program)
        assert result.accepted, result.error
        assert result.processed_insns >= len(program.insns) // 2


@pytest.mark.kernel
@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_agree_with_the_kernel(name, built_examples):
    path = built_examples[name]
    from xdptool.kernel import kernel_unavailable_reason, verify_with_kernel

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    program = load_object(str(path)).program()
    assert verify_with_kernel(program).accepted == analyze(program).accepted


@pytest.mark.kernel
def test_random_programs_agree_with_the_kernel():
    """The fuzz generator's programs (packet parsing with right and wrong bounds, map
    lookups with and without null checks, loops): the same verdict as the kernel's,
    with the pruning our walk does (imprecise scalars, dead registers and slots)."""
    from xdptool.kernel import kernel_unavailable_reason, verify_with_kernel

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    verdicts = []
    for seed in range(1500):
        program = random_program(seed)
        ours = analyze(program, collect_facts=False).accepted
        assert verify_with_kernel(program, log_level=0).accepted == ours, f"seed {seed}"
        verdicts.append(ours)
    assert 0.2 < sum(verdicts) / len(verdicts) < 0.8  # both verdicts are exercised


def test_soundness_fuzz_against_the_vm():
    from xdptool.runtime.vm import VmEngine

    accepted = rejected = 0
    for seed in range(100):
        program = random_program(seed)
        result = analyze(program, collect_facts=False)
        if not result.accepted:
            rejected += 1
            continue
        accepted += 1
        engine = VmEngine(program)
        for packet in random_packets(seed, 8):
            run = engine.run(packet)
            assert run.fault is None, f"seed {seed}: accepted program faulted: {run.fault}"
    assert accepted >= 20 and rejected >= 20  # the generator exercises both sides


def test_facts_for_the_lowering(built_examples):
    program = load_object(str(built_examples["l4_lb"])).program()
    result = analyze(program)
    first = result.facts[0]
    assert first.reg(1).types == {"ctx"}
    lookups = [pc for pc, insn in ((i.pc, i) for i in program.insns) if insn.is_helper_call and insn.imm == 1]
    assert lookups and result.facts[lookups[0]].reg(1).maps == {"backends"}
    pkt_ranges = [f.reg(r).pkt_range for f in result.facts.values() for r in range(10) if f.reg(r) and f.reg(r).pkt_range]
    assert max(pkt_ranges) >= 42  # eth + ip checked before the rewrite
    consts = [f.reg(r).const for f in result.facts.values() for r in range(10) if f.reg(r) and f.reg(r).const is not None]
    assert consts


def test_log_level_1_prints_kernel_style_lines():
    program = load_object(str(CORPUS / "pkt_off_by_one.o")).program()
    log = analyze(program, log_level=1).log.splitlines()
    assert log[0] == "0: R1=ctx() R10=fp0"
    assert any(line.startswith("1: (61) r2 = *(u32 *)(r1 +0)") and line.endswith("; R1=ctx() R2=pkt(r=0)") for line in log)
    assert "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=14)" in log
    assert log[-1].startswith("processed ")


def test_nfp_profile_refusals(built_examples):
    program = load_object(str(built_examples["redirect_devmap"])).program()
    result = analyze(program, "nfp")
    assert not result.accepted and "not supported" in result.error.message
    program = load_object(str(built_examples["drop_all"])).program()
    assert analyze(program, "nfp").accepted


def test_unprivileged_refuses_loops_that_root_may_run(built_examples):
    program = load_object(str(built_examples["bounded_loop"])).program()
    assert analyze(program).accepted
    assert analyze(program, unprivileged=True).error.message.startswith("back-edge from insn")


def _cli(*args):
    return CliRunner().invoke(verify_command, [str(a) for a in args])


def test_cli_exit_codes_and_json(built_examples):
    ok = _cli(built_examples["l4_lb"])
    assert ok.exit_code == 0 and "accepted" in ok.output
    bad = _cli(CORPUS / "pkt_off_by_one.o", "--json")
    assert bad.exit_code == 1
    doc = json.loads(bad.output)
    source = (CORPUS / "pkt_off_by_one.c").read_text().splitlines()
    assert doc["accepted"] is False and "p[14]" in source[doc["error"]["line"] - 1]
    assert doc["error"]["file"].endswith("pkt_off_by_one.c")
    assert set(doc) >= {"processed_insns", "total_states", "peak_states", "stack_depth"}
    stats = doc["stats"]  # issue 16: the verifier's own cost, next to the kernel's BPF_LOG_STATS
    assert stats["processed_insns"] == doc["processed_insns"] == 6 and stats["states"] == doc["total_states"]
    assert 0 < stats["time_ms"] < 10_000
    human = _cli(CORPUS / "pkt_off_by_one.o")
    assert human.exit_code == 1 and "R2 offset is outside of the packet" in human.output
    from xdptool.errors import XdpError

    missing = _cli(ROOT / "nonexistent.o")  # main() turns XdpError into one line and exit 2
    assert isinstance(missing.exception, XdpError) and missing.exception.exit_code == 2
