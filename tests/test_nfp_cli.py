"""`xdptool offload` and `xdptool maps` through click's CliRunner, and replaying the offloaded image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.nfp import abi, firmware
from xdptool.nfp.assembler import assemble
from xdptool.nfp.image import link
from xdptool.nfp.encoding import encode

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: ") and "Traceback" not in result.output, result.stderr
    return lines[-1]


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    out = tmp_path_factory.mktemp("nfp-cli")
    return {name: Path(toolchain.build(PROGRAMS / f"{name}.c", out / f"{name}.o").output)
            for name in ("port_blocklist", "mac_swap", "syn_ratelimit")}


@pytest.mark.parametrize("allocator, base, symbols", [("kernel", abi.START_OFF, abi.SYMBOLS),
                                                      ("xdptool", 0, firmware.SYMBOLS)])
def test_offload_reports_and_writes_an_assemblable_listing(objects, tmp_path, allocator, base, symbols):
    state, listing = tmp_path / "state", tmp_path / "fw.s"
    result = invoke("offload", objects["mac_swap"], "--target", "nfp-emu", "--state", state, "-o", listing,
                    "--allocator", allocator)
    assert result.exit_code == 0, result.output
    assert "offloaded xdp_mac_swap" in result.output and "of 2560 instructions" in result.output
    assert "kernel JIT (runs on the card)" in result.output and "xdptool allocator (what-if)" in result.output
    text = listing.read_text()
    insns, labels = assemble(text)
    link(insns, labels, symbols, base)
    saved = json.loads((state / "nfp" / "offload.json").read_text())
    assert [format(encode(i), "016x") for i in insns] == saved["image"]
    assert "mac_swap.c:" in text and "; 0: " in text  # C lines and eBPF instructions as comments


def test_offload_json_document(objects, tmp_path):
    result = invoke("offload", objects["port_blocklist"], "--state", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["offloaded"] is True and doc["reasons"] == []
    kernel, what_if = doc["images"]["kernel"], doc["images"]["xdptool"]
    assert doc["image"] == {"instructions": kernel["instructions"], "contexts": 4, "allocator": "kernel",
                            "runs_on_card": True}
    assert doc["contexts"] == 4 and doc["registers_per_bank"] == 24 and set(doc["registers"]) == {"A", "B"}
    assert what_if["contexts"] == 8 and what_if["instructions"] < kernel["instructions"]
    assert not what_if["runs_on_card"] and what_if["cycles_per_packet"] > 0
    assert doc["warnings"] == []  # its map keys sit 4-byte aligned on the stack, as the card requires


def test_allocator_xdptool_offloads_the_what_if_and_replay_rebuilds_it(objects, tmp_path):
    result = invoke("offload", objects["mac_swap"], "--state", tmp_path, "--allocator", "xdptool", "--json")
    doc = json.loads(result.stdout)
    saved = json.loads((tmp_path / "nfp" / "offload.json").read_text())
    assert doc["image"]["allocator"] == doc["mapping"] == "xdptool" and doc["contexts"] == 8
    assert len(saved["image"]) == doc["nfp_instructions"] == doc["images"]["xdptool"]["instructions"]
    replay = invoke("replay", PROGRAMS / "mac_swap.pcap", "--state", tmp_path, "--json")
    assert replay.exit_code == 0, replay.output


def test_baseline_is_the_old_name_of_the_kernel_image(objects, tmp_path):
    doc = json.loads(invoke("offload", objects["mac_swap"], "--state", tmp_path, "--baseline", "--json").stdout)
    assert doc["image"]["allocator"] == "kernel"
    assert "give one of them" in one_line_error(invoke("offload", objects["mac_swap"], "--state", tmp_path,
                                                       "--baseline", "--allocator", "xdptool"), 2)


def test_contexts(objects, tmp_path):
    doc = json.loads(invoke("offload", objects["mac_swap"], "--state", tmp_path, "--contexts", "4", "--allocator",
                            "xdptool", "--json").stdout)
    assert doc["contexts"] == 4 and doc["registers_per_bank"] == 24
    line = one_line_error(invoke("offload", objects["mac_swap"], "--state", tmp_path, "--contexts", "8"), 2)
    assert "what-if of --allocator xdptool" in line


def test_refused_program_exits_1_with_the_reason(objects, tmp_path):
    line = one_line_error(invoke("offload", objects["syn_ratelimit"], "--state", tmp_path), 1)
    assert "cannot be offloaded" in line and "lru_hash" in line
    result = invoke("offload", objects["syn_ratelimit"], "--state", tmp_path, "--json")
    assert result.exit_code == 1 and json.loads(result.stdout)["offloaded"] is False
    assert not (tmp_path / "nfp" / "offload.json").exists()


def test_bad_input_is_one_line(tmp_path):
    assert "no such file" in one_line_error(invoke("offload", tmp_path / "missing.o"), 2)
    bogus = tmp_path / "bogus.o"
    bogus.write_bytes(b"not an elf")
    one_line_error(invoke("offload", bogus), 2)
    assert "nothing offloaded" in one_line_error(invoke("maps", "dump", "--state", tmp_path), 2)


def test_maps_set_replay_and_reset_persist_like_a_card(objects, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default state directory .xdptool
    assert invoke("offload", objects["port_blocklist"]).exit_code == 0
    # block UDP/TCP port 53 in both directions (value bit 0: source? see port_blocklist.c; set all bits)
    result = invoke("maps", "set", "blocklist", "0035", "03")
    assert result.exit_code == 0, result.output
    dump = json.loads(invoke("maps", "dump", "--json").stdout)
    assert dump["blocklist"] == [{"key": "0035", "value": "03", "formatted": {"key": 53, "value": 3}}]  # BTF: __be16 -> __u8
    replay = invoke("replay", PROGRAMS / "port_blocklist.pcap", "--json")
    assert replay.exit_code == 0, replay.output
    summary = json.loads(replay.stdout)["summary"]
    assert summary["target"] == "nfp-emu" if "target" in summary else True
    after = json.loads(invoke("maps", "dump", "--json").stdout)
    assert after["drops"], "the replay's drop counters were saved back to the card's maps"
    again = json.loads(invoke("replay", PROGRAMS / "port_blocklist.pcap", "--json").stdout)
    counts = {e["key"]: int.from_bytes(bytes.fromhex(e["value"]), "little") for e in after["drops"]}
    later = json.loads(invoke("maps", "dump", "--json").stdout)
    counts2 = {e["key"]: int.from_bytes(bytes.fromhex(e["value"]), "little") for e in later["drops"]}
    assert all(counts2[k] == 2 * v for k, v in counts.items()), (counts, counts2)
    assert again["maps"] == later
    assert invoke("maps", "reset").exit_code == 0
    assert json.loads(invoke("maps", "dump", "--json").stdout) == {"blocklist": [], "drops": []}


def test_maps_set_rejects_bad_keys(objects, tmp_path):
    assert invoke("offload", objects["port_blocklist"], "--state", tmp_path).exit_code == 0
    assert "key of 3 bytes" in one_line_error(invoke("maps", "set", "--state", tmp_path, "blocklist", "000000", "01"), 2)
    assert "not hex" in one_line_error(invoke("maps", "set", "--state", tmp_path, "blocklist", "zz", "01"), 2)
    assert "no map named" in one_line_error(invoke("maps", "dump", "--state", tmp_path, "nope"), 2)


def test_the_card_keeps_running_what_was_offloaded(objects, tmp_path, monkeypatch):
    """As on a real card: rebuilding or deleting the user's object changes nothing until the next offload."""
    obj = tmp_path / "fw.o"
    shutil.copy(objects["mac_swap"], obj)
    monkeypatch.chdir(tmp_path)
    assert invoke("offload", obj).exit_code == 0
    before = invoke("replay", PROGRAMS / "mac_swap.pcap", "--json")
    obj.write_bytes(objects["port_blocklist"].read_bytes())
    after = invoke("replay", PROGRAMS / "mac_swap.pcap", "--json")
    obj.unlink()
    gone = invoke("replay", PROGRAMS / "mac_swap.pcap", "--json")
    assert before.exit_code == after.exit_code == gone.exit_code == 0, (after.output, gone.output)
    verdicts = [json.loads(r.stdout)["summary"]["verdicts"] for r in (before, after, gone)]
    assert verdicts[0] == verdicts[1] == verdicts[2] and verdicts[0]["XDP_TX"] > 0  # mac_swap bounces every frame


def test_a_damaged_card_copy_is_named(objects, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("offload", objects["mac_swap"]).exit_code == 0
    (tmp_path / ".xdptool" / "nfp" / "program.o").write_bytes(objects["port_blocklist"].read_bytes())
    assert "damaged NIC state" in one_line_error(invoke("replay", PROGRAMS / "mac_swap.pcap"), 2)


def test_offloading_a_source_file_leaves_a_usable_card(tmp_path, monkeypatch):
    """`offload X.c` builds first; maps and replay then use the built object (they once reopened the .c as ELF)."""
    monkeypatch.chdir(tmp_path)
    assert invoke("offload", PROGRAMS / "port_blocklist.c").exit_code == 0
    assert json.loads(invoke("maps", "dump", "--json").stdout) == {"blocklist": [], "drops": []}
    result = invoke("replay", PROGRAMS / "port_blocklist.pcap", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["packets"] > 0
