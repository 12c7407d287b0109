"""--json on every command, errors included: `{"error": {"message", "code", "kind"}}` on
stdout (as `bpftool -j` prints its errors), parsed back; the one line stays on stderr."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from xdptool.cli.main import COMMANDS, cli

MISSING = "missing-input"


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def error_object(result, code: int, kind: str) -> dict:
    """The one JSON document on stdout, which must be an error object."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    document = json.loads(result.stdout)
    assert set(document) == {"error"}
    error = document["error"]
    assert error["code"] == code and error["kind"] == kind and error["message"]
    assert "Traceback" not in result.output
    return error


# every command and subcommand, given an input that does not exist
MISSING_INPUT = {
    "build": ["build", f"{MISSING}.c"],
    "inspect": ["inspect", f"{MISSING}.o"],
    "disasm": ["disasm", f"{MISSING}.o"],
    "verify": ["verify", f"{MISSING}.o"],
    "run": ["run", f"{MISSING}.o", "--packet", "00" * 14],
    "replay": ["replay", f"{MISSING}.o", f"{MISSING}.pcap"],
    "offload": ["offload", f"{MISSING}.o"],
    "maps dump": ["maps", "dump", "--state", MISSING],
    "maps set": ["maps", "set", "--state", MISSING, "drops", "00", "01"],
    "maps reset": ["maps", "reset", "--state", MISSING],
    "test": ["test", f"{MISSING}.toml"],
}


def test_every_command_is_covered():
    assert {name.split()[0] for name in MISSING_INPUT} == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(MISSING_INPUT))
def test_bad_input_is_an_error_object_on_stdout(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    result = invoke(*MISSING_INPUT[name], "--json")
    error = error_object(result, 2, "bad_input")
    assert MISSING in error["message"]
    assert result.stderr.strip() == f"error: {error['message']}"  # the human line is unchanged


@pytest.mark.parametrize("name", sorted(MISSING_INPUT))
def test_without_json_stdout_stays_empty(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    result = invoke(*MISSING_INPUT[name])
    assert result.exit_code == 2 and result.stdout == ""


def test_a_usage_error_is_an_error_object_too():
    error = error_object(invoke("verify", "--json", "--no-such-option", "x.o"), 2, "usage")
    assert "--no-such-option" in error["message"]
    # --json after the bad option: found on the command line, as its callback never ran
    error_object(invoke("disasm", "--no-such-option", "x.o", "--json"), 2, "usage")
    # after `--` it is an argument, not the flag
    assert invoke("inspect", "--bogus", "--", "--json").stdout == ""


def test_an_internal_error_is_kind_internal(monkeypatch, tmp_path):
    def broken(path, build=None):
        raise RuntimeError("invariant broken")

    monkeypatch.setattr("xdptool.cli.inspect.load", broken)
    error = error_object(invoke("inspect", tmp_path / "x.o", "--json"), 3, "internal")
    assert error["type"] == "RuntimeError" and "invariant broken" in error["message"]


def test_jsonl_gets_the_error_as_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("replay", "nothing.o", "nothing.pcap", "--jsonl")
    assert result.exit_code == 2
    (line,) = result.stdout.splitlines()
    assert json.loads(line)["error"]["message"] == "nothing.o: no such file"


def test_an_error_the_command_reports_itself_is_an_object(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.pcap").write_bytes(b"")
    error = error_object(invoke("replay", "c.pcap", "--json", "--jsonl"), 2, "bad_input")
    assert error["message"] == "--json and --jsonl are exclusive"


def test_a_bad_spec_names_its_type(tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('program = "x.c"\nnope = 1\n')
    error = error_object(invoke("test", spec, "--json"), 2, "bad_input")
    assert error["type"] == "SpecError" and "bad.toml:2: nope: unknown key" in error["message"]


def test_verify_kernel_disagreement_exits_1(monkeypatch, built_examples):
    """verify --kernel: a verdict the kernel does not share is a failure (exit 1), in both forms."""
    monkeypatch.setattr("xdptool.cli.verify._kernel_verdict", lambda program, level: {
        "accepted": False, "message": "R1 invalid mem access", "processed_insns": 3, "load_time_ms": 0.1})
    obj = built_examples["drop_all"]
    assert invoke("verify", obj, "--kernel").exit_code == 1
    result = invoke("verify", obj, "--kernel", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["verdicts_agree"] is False and set(document) != {"error"}  # a result, not an error object
