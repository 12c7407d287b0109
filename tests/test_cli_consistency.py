"""One meaning per option across commands: -p/--prog selects a program everywhere;
replay takes the object first (`replay OBJ CAPTURE`, as `bpftool prog run PROG data_in
FILE`), with the old `replay --prog OBJ` still read, and saying it is deprecated;
`verify` over several objects and multi-program objects (every program, one row each,
as veristat does)."""

from __future__ import annotations

import json
import shutil

import click
import pytest
from click.testing import CliRunner

from conftest import ROOT
from test_pcap_builders import classic, ether_frame
from xdptool.cli.main import COMMANDS, cli

needs_clang = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
CORPUS = ROOT / "tests" / "verifier_corpus"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _commands():
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        if isinstance(command, click.Group):
            yield from ((f"{name} {sub}", c) for sub, c in command.commands.items())
        else:
            yield name, command


def test_every_program_selector_is_dash_p_and_dash_dash_prog():
    """A command that picks a program calls the option -p/--prog, and nothing else is --prog."""
    selecting = {}
    for name, command in _commands():
        for param in command.params:
            if "--prog" in getattr(param, "opts", []) or "-p" in getattr(param, "opts", []):
                selecting[name] = sorted(param.opts)
    assert selecting == {name: ["--prog", "-p"] for name in ("disasm", "offload", "replay", "run", "verify")}


MULTI_SOURCE = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
SEC("xdp") int first(struct xdp_md *ctx) { return XDP_PASS; }
SEC("xdp") int second(struct xdp_md *ctx) { return XDP_DROP; }
SEC("xdp") int bad(struct xdp_md *ctx) { return *(char *)(long)ctx->data; }
SEC("tc") int not_xdp(struct __sk_buff *skb) { return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def multi_obj(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    src = tmp_path_factory.mktemp("multi") / "multi.c"
    src.write_text(MULTI_SOURCE)
    return toolchain.build(src).output


@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "in.pcap"
    path.write_bytes(classic([ether_frame(), ether_frame()]))
    return path


def test_replay_takes_the_object_first(capture, built_examples):
    result = invoke("replay", built_examples["drop_all"], capture, "--target", "vm", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["verdicts"]["XDP_DROP"] == 2
    assert result.stderr == ""


def test_replay_dash_dash_prog_with_an_object_still_works_and_says_it_is_deprecated(capture, built_examples):
    new = invoke("replay", built_examples["drop_all"], capture, "--target", "vm", "--json")
    old = invoke("replay", capture, "--prog", built_examples["drop_all"], "--target", "vm", "--json")
    assert old.exit_code == 0, old.output
    assert "replay --prog OBJ is deprecated" in old.stderr and "xdptool replay OBJ CAPTURE" in old.stderr
    summary = lambda r: {k: v for k, v in json.loads(r.stdout)["summary"].items() if k not in ("seconds", "timing", "packets_per_second")}  # noqa: E731
    assert summary(old) == summary(new)


@needs_clang
def test_replay_dash_p_and_dash_dash_prog_pick_the_program(multi_obj, capture):
    for flag in ("-p", "--prog"):
        result = invoke("replay", multi_obj, capture, flag, "second", "--target", "vm", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["summary"]["program"] == "second"
    # the deprecated object alias next to -p: both understood
    result = invoke("replay", capture, "--prog", multi_obj, "-p", "first", "--target", "vm", "--json")
    assert json.loads(result.stdout)["summary"]["verdicts"]["XDP_PASS"] == 2


def test_replay_given_only_an_object_asks_for_the_capture(built_examples):
    result = invoke("replay", built_examples["drop_all"])
    assert result.exit_code == 2 and "give the capture too: xdptool replay OBJ CAPTURE" in result.stderr


@needs_clang
def test_run_takes_dash_dash_prog(multi_obj):
    result = invoke("run", multi_obj, "--prog", "second", "--packet", ether_frame().hex(), "--target", "vm", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["verdict"] == "XDP_DROP"


@needs_clang
def test_verify_checks_every_program_of_a_multi_program_object(multi_obj):
    result = invoke("verify", multi_obj)
    assert result.exit_code == 1  # `bad` reads the packet without a bounds check
    rows = {line.split()[1]: line.split()[2] for line in result.stdout.splitlines()[2:-1]}
    assert rows == {"first": "accepted", "second": "accepted", "bad": "rejected", "not_xdp": "skipped"}
    assert "bad: rejected at insn" in result.stderr and "invalid access to packet" in result.stderr
    assert result.stdout.splitlines()[-1] == "2 accepted, 1 rejected, 1 skipped (4 programs)"
    # -p still verifies one, with the kernel-style output
    one = invoke("verify", multi_obj, "-p", "second")
    assert one.exit_code == 0 and one.stdout.startswith("second: accepted")


def test_verify_several_objects_one_row_each_like_veristat(built_examples):
    objs = [built_examples["drop_all"], built_examples["mac_swap"], CORPUS / "pkt_off_by_one.o"]
    result = invoke("verify", *objs)
    assert result.exit_code == 1
    header, dashes, *rows, total = result.stdout.splitlines()
    assert header.split()[:3] == ["File", "Program", "Verdict"]
    assert "Duration (us)" in header and "Insns" in header and "Peak states" in header
    assert set(dashes) <= {"-", " "}
    assert [(r.split()[0], r.split()[2]) for r in rows] == [
        (str(objs[0]), "accepted"), (str(objs[1]), "accepted"), (str(objs[2]), "rejected")]
    insns = [int(r.split()[4]) for r in rows]
    single = [json.loads(invoke("verify", o, "--json").stdout)["processed_insns"] for o in objs]
    assert insns == single  # the same count as verifying each alone
    assert total == "2 accepted, 1 rejected (3 programs)"

    document = json.loads(invoke("verify", *objs, "--json").stdout)
    assert document["summary"] == {"accepted": 2, "rejected": 1, "skipped": 0, "error": 0}
    assert [(p["file"], p["verdict"]) for p in document["programs"]] == [(str(o), v) for o, v in
                                                                         zip(objs, ("accepted", "accepted", "rejected"))]
    assert all({"processed_insns", "states", "time_ms"} <= set(p["stats"]) for p in document["programs"])


def test_verify_kernel_columns(monkeypatch, built_examples):
    """--kernel adds the kernel's verdict, load time, processed insns and states per row."""
    monkeypatch.setattr("xdptool.cli.verify._kernel_verdict", lambda program, level: {
        "accepted": True, "message": None, "processed_insns": 7, "total_states": 2, "peak_states": 2,
        "load_time_ms": 0.05})
    result = invoke("verify", built_examples["drop_all"], built_examples["mac_swap"], "--kernel")
    header, _, first, second, _ = result.stdout.splitlines()
    assert header.split()[-8:] == ["Kernel", "verdict", "Kernel", "(us)", "Kernel", "insns", "Kernel", "states"]
    assert first.split()[-4:] == ["accepted", "50", "7", "2"]


def test_run_repeat_gives_the_mean_and_the_kernels_own_figure(built_examples):
    """`run --repeat N`, as `bpftool prog run PROG ... repeat N`: ns per run on the target and,
    where bpf(2) is usable, the kernel's own mean for the same program (else why not)."""
    from xdptool.runtime.engines import target_available

    frame = ether_frame()
    result = invoke("run", built_examples["drop_all"], "--packet", frame.hex(), "--target", "vm", "--repeat", 200, "--json")
    assert result.exit_code == 0, result.output
    timing = json.loads(result.stdout)["repeat"]
    assert timing["count"] == 200 and timing["target"] == "vm" and timing["ns_per_run"] > 0
    kernel_ok, why = target_available("kernel")
    if kernel_ok:
        assert isinstance(timing["kernel_ns_per_run"], int) and timing["kernel_note"] is None
    else:
        assert timing["kernel_ns_per_run"] is None and timing["kernel_note"] == why
    text = invoke("run", built_examples["drop_all"], "--packet", frame.hex(), "--target", "vm", "--repeat", 50).stdout.splitlines()[-1]
    assert text.startswith("repeat 50: vm ") and " ns per run (mean)" in text
    assert ("kernel " in text and "BPF_PROG_TEST_RUN repeat 50" in text) if kernel_ok else "kernel not measured" in text


def test_run_repeat_leaves_the_shown_result_alone(built_examples):
    """The timed runs start from the initial maps on their own engines: the run shown,
    its map changes included, is the same with and without --repeat."""
    drop = {"verdict", "map_changes", "maps", "data_out"}
    args = ("run", built_examples["port_blocklist"], "--scapy",
            "Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP()/UDP(dport=53)", "--target", "vm",
            "--maps-in", ROOT / "programs" / "port_blocklist.maps.json", "--json")
    once = json.loads(invoke(*args).stdout)
    repeated = json.loads(invoke(*args, "--repeat", 20).stdout)
    assert {k: once[k] for k in drop} == {k: repeated[k] for k in drop}


def test_run_repeat_a_runt_says_why_the_kernel_has_no_figure(built_examples):
    result = invoke("run", built_examples["drop_all"], "--packet", "00" * 10, "--target", "vm", "--repeat", 5, "--json", "--run-runts")
    timing = json.loads(result.stdout)["repeat"]
    assert timing["kernel_ns_per_run"] is None and timing["kernel_note"]
