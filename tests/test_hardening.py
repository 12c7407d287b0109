"""Regression tests for the hostile-input findings of issue 17 (items 1 and 6).

Each test is one finding: the input that gave a traceback (or a wrong exit code)
and the one-line error or exit code it must give now.  tests/fuzz/ looks for more.
"""

from __future__ import annotations

import json
import struct

import pytest

from hostile_inputs import UDP_PACKET, assert_handled, cli_run, patched, section, with_insn, with_symbol_binding
from test_pcap_builders import block, classic, epb, ether_frame, options, shb
from xdptool.errors import InternalError, XdpError


def one_line(result, code: int = 2) -> str:
    assert_handled(result, (code,))
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def blocklist(built_examples) -> bytes:
    return built_examples["port_blocklist"].read_bytes()


# -- ELF objects and instructions -------------------------------------------------


def test_unknown_symbol_binding_loads(tmp_path, blocklist):
    path = tmp_path / "bind.o"
    path.write_bytes(with_symbol_binding(blocklist, 1, 5))  # binding 5: no STB_* name
    assert_handled(cli_run("inspect", path), (0,))
    assert_handled(cli_run("disasm", path), (0,))


@pytest.mark.parametrize("target", ["vm", "jit"])
@pytest.mark.parametrize("code, regs, message", [
    (None, 0x1B, "dst register r11 does not exist"),   # slot 4 is `r2 = *(u32 *)(r1 + 4)`
    (None, 0xF2, "src register r15 does not exist"),
    (0xA0, None, "unknown opcode 0xa0"),                # class LD with the undefined mode 0xa0
])  # fmt: skip
def test_bad_instruction_is_refused_before_an_engine_runs_it(tmp_path, blocklist, target, code, regs, message):
    path = tmp_path / "bad.o"
    path.write_bytes(with_insn(blocklist, "xdp", 4, code=code, regs=regs))
    line = one_line(cli_run("run", path, "--target", target, "--packet", UDP_PACKET.hex()))
    assert "xdp_port_blocklist: slot 4: " in line and message in line


def test_map_too_large_to_emulate_is_refused(blocklist):
    """A mutated BTF gave a map 2^32-1 entries: refused in one line instead of exhausting memory."""

    from xdptool.elf import load_object
    from xdptool.runtime.maps import MapStore

    mdef = load_object("x.o", blocklist).maps["blocklist"]
    with pytest.raises(XdpError, match=r"map blocklist: 4294967295 entries of 2\+1 bytes need 12287 MiB; "
                                       r"the emulated maps hold at most 8192 MiB each"):
        MapStore({"blocklist": mdef.replace(max_entries=(1 << 32) - 1)})


# -- captures --------------------------------------------------------------------


def idb_with(raw_options: list[tuple[int, bytes]]) -> bytes:
    return block(1, struct.pack("<HHI", 1, 0, 0) + options(raw_options))


@pytest.mark.parametrize("raw, message", [
    ([(9, b"")], "if_tsresol option of 0 bytes (needs 1)"),
    ([(14, b"\x01\x02\x03")], "if_tsoffset option of 3 bytes (needs 8)"),
])  # fmt: skip
def test_pcapng_short_clock_options_are_one_line_errors(tmp_path, blocklist, raw, message):
    path = tmp_path / "bad.pcapng"
    path.write_bytes(shb() + idb_with(raw) + epb(0, 1, ether_frame(b"x" * 20)))
    obj = tmp_path / "prog.o"
    obj.write_bytes(blocklist)
    line = one_line(cli_run("replay", obj, path, "--target", "vm"))
    assert str(path) in line and "block 1" in line and message in line


@pytest.mark.parametrize("capture", [
    # pcapng: the interface clock starts 2^33 s after the epoch
    shb() + idb_with([(14, struct.pack("<q", 1 << 33))]) + epb(0, 1, ether_frame(b"x" * 20)),
    # classic pcap: a microsecond field of 2^32 - 1 carries past the last second a record can hold
    classic([(ether_frame(b"x" * 20), (1 << 32) - 1, (1 << 32) - 1)]),
])  # fmt: skip
def test_timestamps_past_2106_cannot_be_written_to_classic_pcap(tmp_path, blocklist, capture):
    path = tmp_path / "late.cap"
    path.write_bytes(capture)
    obj = tmp_path / "prog.o"
    obj.write_bytes(blocklist)
    line = one_line(cli_run("replay", obj, path, "--target", "vm", "--out-dir", tmp_path / "out"))
    assert "outside what a classic pcap record holds" in line


# -- JSON --------------------------------------------------------------------------


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"blocklist": [{"key": "0035", "value": ' + "9" * 5000 + "}]}", "4300 digits"),
    ("{\"blocklist\": [\"0035\"]}", "malformed state"),
])  # fmt: skip
def test_hostile_maps_json_is_a_one_line_error(tmp_path, blocklist, text, message):
    maps = tmp_path / "maps.json"
    maps.write_text(text)
    obj = tmp_path / "prog.o"
    obj.write_bytes(blocklist)
    line = one_line(cli_run("run", obj, "--target", "vm", "--packet", UDP_PACKET.hex(), "--maps-in", maps))
    assert str(maps) in line and message in line


# -- spec files --------------------------------------------------------------------

SPEC_CASE = """
[[case]]
name = "udp"
packet_hex = "{packet}"
expect.verdict = "XDP_PASS"
"""


def write_spec(tmp_path, obj: bytes, top: str = "", case: str = SPEC_CASE) -> str:
    (tmp_path / "prog.o").write_bytes(obj)
    path = tmp_path / "spec.toml"
    path.write_text(f'program = "prog.o"\n{top}\n' + case.replace("{packet}", UDP_PACKET.hex()))
    return str(path)


@pytest.mark.parametrize("top, case, message", [
    ('ncpus = "2"', SPEC_CASE, "ncpus: expected an integer from 1 to 1024, got '2'"),
    ("ncpus = 0", SPEC_CASE, "ncpus: expected an integer"),
    ("prog = 3", SPEC_CASE, "prog: expected a program name"),
    ('targets = ["jitt"]', SPEC_CASE, "targets: unknown target 'jitt' (targets: vm, jit, kernel, nfp-emu)"),
    ('target = "jitt"', SPEC_CASE, "target: unknown target 'jitt'"),
    ("", SPEC_CASE + 'targets = ["vmm"]\n', "targets: unknown target 'vmm'"),
    ("", SPEC_CASE + "skip = 3\n", "skip: expected a reason"),
    ("", SPEC_CASE + 'expect.maps.nope = [{ key = "00", value = "00" }]\n', "expect.maps.nope: no map named 'nope'"),
    ('[[maps.nope]]\nkey = "00"\nvalue = "00"', SPEC_CASE, "maps.nope: no map named 'nope'"),
    ("x = " + "9" * 5000, SPEC_CASE, "4300 digits"),
    ("x = " + "[" * 5000, SPEC_CASE, ""),
])  # fmt: skip
def test_bad_spec_values_exit_2_naming_the_key(tmp_path, blocklist, top, case, message):
    line = one_line(cli_run("test", write_spec(tmp_path, blocklist, top, case), "--target", "vm"))
    assert str(tmp_path / "spec.toml") in line and message in line


def test_non_utf8_spec_exits_2(tmp_path, blocklist):
    path = write_spec(tmp_path, blocklist)
    with open(path, "ab") as f:
        f.write(b'# \xff\xfe\n')
    assert "not UTF-8" in one_line(cli_run("test", path, "--target", "vm"))


@pytest.mark.parametrize("keyword", ["x ()", "(", "not", "udp and", ")("])
def test_bad_keyword_expression_exits_2(tmp_path, blocklist, keyword):
    assert "bad -k expression" in one_line(cli_run("test", write_spec(tmp_path, blocklist), "-k", keyword))


def test_short_expected_packet_is_a_failure_not_a_crash(tmp_path, blocklist):
    case = SPEC_CASE.replace('expect.verdict = "XDP_PASS"', 'expect.packet_hex = "02"')
    result = cli_run("test", write_spec(tmp_path, blocklist, "", case), "--target", "vm")
    assert_handled(result, (1,))
    assert "FAIL" in result.stdout


# -- printing text, never markup ---------------------------------------------------


def test_markup_in_paths_names_and_messages_prints_as_text(tmp_path, blocklist):
    folder = tmp_path / "a[" / "x]b[[case]]"  # the path holds "a[/x]b[[case]]"
    folder.mkdir(parents=True)
    obj = folder / "prog.o"
    obj.write_bytes(blocklist)
    result = cli_run("inspect", obj)
    assert_handled(result, (0,))
    assert f"{obj}: programs" in result.stdout
    case = SPEC_CASE.replace('name = "udp"', 'name = "[[case]] [/x] [bold]b[/bold] :smile:"')
    result = cli_run("test", write_spec(folder, blocklist, "", case), "--target", "vm")
    assert_handled(result, (0,))
    assert "spec.toml::[[case]] [/x] [bold]b[/bold] :smile: [vm] -> XDP_PASS" in result.stdout
    line = one_line(cli_run("run", folder / "missing[/y].o", "--packet", "00"))
    assert line == f"error: {folder / 'missing[/y].o'}: no such file"


# -- exit codes ----------------------------------------------------------------------


def test_verify_exits_1_when_the_kernel_disagrees(tmp_path, blocklist, monkeypatch):
    import xdptool.cli.verify as verify

    obj = tmp_path / "prog.o"
    obj.write_bytes(blocklist)
    rejecting = {"accepted": False, "message": "R1 invalid mem access", "processed_insns": 1, "load_time_ms": 0.1}
    monkeypatch.setattr(verify, "_kernel_verdict", lambda program, level: rejecting)
    result = cli_run("verify", obj, "--kernel")
    assert_handled(result, (1,))
    assert "verdicts DISAGREE" in result.stdout
    result = cli_run("verify", obj, "--kernel", "--json")
    assert_handled(result, (1,))
    assert json.loads(result.stdout)["verdicts_agree"] is False
    monkeypatch.setattr(verify, "_kernel_verdict", lambda program, level: dict(rejecting, accepted=True))
    assert_handled(cli_run("verify", obj, "--kernel"), (0,))


def test_a_bug_is_an_internal_error_exit_3_with_one_line(tmp_path, blocklist, monkeypatch):
    import xdptool.cli.inspect as inspect

    obj = tmp_path / "prog.o"
    obj.write_bytes(blocklist)

    def broken(_obj):
        raise KeyError("oops")

    monkeypatch.setattr(inspect, "describe", broken)
    line = one_line(cli_run("inspect", obj), code=3)
    assert line == "internal error: KeyError: 'oops' — please report this at the xdptool issue tracker"
    debug = cli_run("inspect", obj, env={"XDPTOOL_DEBUG": "1"})
    assert debug.exit_code == 3 and "Traceback" in debug.stderr and "KeyError: 'oops'" in debug.stderr


def test_internal_errors_are_not_bad_input():
    from xdptool.nfp.executor import IsaViolation
    from xdptool.nfp.regalloc import AllocatorInvariant

    for kind in (IsaViolation, AllocatorInvariant):
        assert issubclass(kind, InternalError) and not issubclass(kind, XdpError)
    assert InternalError.exit_code == 3


def test_usage_errors_keep_click_exit_code_2(tmp_path):
    result = cli_run("run", "--no-such-option")
    assert result.exit_code == 2 and "No such option" in result.output and "internal error" not in result.output


def test_elf_header_patch_helper_is_independent_of_the_loader(blocklist):
    """The section reader the patches rely on agrees with the file (sanity of the test helper)."""
    xdp = section(blocklist, "xdp")
    assert xdp.size % 8 == 0 and xdp.size // 8 >= 100
    assert patched(b"\0" * 4, 0, "<I", 7) == b"\x07\0\0\0"
