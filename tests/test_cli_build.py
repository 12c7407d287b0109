"""`xdptool build` and the CLI's error conventions."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")

PROGRAM = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#ifndef VERDICT
#error "VERDICT must be defined"
#endif
#include "verdict.h"
SEC("xdp") int prog(struct xdp_md *ctx) { return VERDICT + EXTRA; }
char LICENSE[] SEC("license") = "GPL";
"""


def invoke(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def source(tmp_path):
    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "verdict.h").write_text("#define EXTRA 0\n")
    src = tmp_path / "prog.c"
    src.write_text(PROGRAM)
    return src, inc


def test_build_next_to_source_with_includes_and_defines(source):
    src, inc = source
    result = invoke("build", str(src), "-I", str(inc), "-D", "VERDICT=2")
    assert result.exit_code == 0, result.output
    obj = src.with_suffix(".o")
    assert obj.read_bytes()[:4] == b"\x7fELF"
    from xdptool.elf import load_object

    prog = load_object(obj).program()
    assert (prog.insns[0].code, prog.insns[0].imm) == (0xB7, 2)  # r0 = 2


def test_build_json_and_output_option(source, tmp_path):
    src, inc = source
    out = tmp_path / "elsewhere.o"
    result = invoke("build", str(src), "-o", str(out), "-I", str(inc), "-DVERDICT=1", "--json")
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["ok"] is True and doc["object"] == str(out) and out.exists()
    assert "-target" in doc["command"] and "bpf" in doc["command"]


def test_compile_error_exits_1_with_diagnostics(source):
    src, inc = source
    result = invoke("build", str(src), "-I", str(inc))  # VERDICT undefined -> #error
    assert result.exit_code == 1
    assert "VERDICT must be defined" in result.output
    assert "compilation failed (2 errors)" in result.output  # the #error and the undefined VERDICT
    assert "Traceback" not in result.output


def test_compile_error_json_lists_diagnostics(source):
    src, inc = source
    result = invoke("build", str(src), "-I", str(inc), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert doc["ok"] is False
    assert doc["diagnostics"][0]["line"] == 5 and doc["diagnostics"][0]["severity"] == "error"


def test_missing_clang_exits_2_with_install_hint(source):
    src, _ = source
    result = invoke("build", str(src), env={"CLANG": "/nonexistent/clang"})
    assert result.exit_code == 2
    assert "clang not found" in result.output and "apt-get install clang" in result.output
    result = invoke("build", str(src), "--clang", "no-such-clang")
    assert result.exit_code == 2


def test_missing_source_exits_2(tmp_path):
    result = invoke("build", str(tmp_path / "nope.c"))
    assert result.exit_code == 2 and "no such source file" in result.output


def test_unknown_command_and_help():
    assert invoke("--help").exit_code == 0
    assert invoke("frobnicate").exit_code == 2


def test_a_file_clang_does_not_compile_is_an_error(tmp_path):
    """clang exits 0 on README.md (a 'linker input') and writes nothing; build must not say 'built'."""
    notes = tmp_path / "README.md"
    notes.write_text("# not C\n")
    result = invoke("build", str(notes))
    assert result.exit_code == 1
    assert "produced no object" in result.output and "built" not in result.output
