"""Builds that work on real sources: glibc headers (and what to install when they are
missing), extra clang flags (--cflags), -I/-D on every command that takes a .c and as
spec keys, and one place for implicit builds (the cache), `build` writing X.o."""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ROOT
from test_pcap_builders import classic, ether_frame
from xdptool.cli.main import cli

pytestmark = pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
FRAME = ether_frame()

# returns VERDICT (a macro, from -D or the header in -I) and uses glibc's headers
SOURCE = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <string.h>
#include <stdint.h>
#include "verdict.h"
SEC("xdp") int prog(struct xdp_md *ctx)
{
    uint8_t scratch[8];
    memset(scratch, VERDICT, sizeof(scratch));
    return FLAG ? scratch[3] : XDP_ABORTED;
}
char LICENSE[] SEC("license") = "GPL";
"""
HEADER = "#ifndef VERDICT\n#define VERDICT XDP_DROP\n#endif\n"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def project(tmp_path, monkeypatch):
    """src/prog.c including "verdict.h" from include/ (found only with -I); cache in tmp."""
    monkeypatch.setenv("XDPTOOL_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "src").mkdir()
    (tmp_path / "include").mkdir()
    (tmp_path / "src" / "prog.c").write_text(SOURCE)
    (tmp_path / "include" / "verdict.h").write_text(HEADER)
    if not any(Path("/usr/include").glob("*/gnu/stubs-32.h")) and platform.machine() == "x86_64":
        pytest.skip("libc6-dev-i386 is not installed (make setup installs it)")
    return tmp_path


def run_verdict(project, *options) -> str:
    result = invoke("run", project / "src" / "prog.c", "--packet", FRAME.hex(), "--target", "vm", "--json", *options)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["verdict"]


def test_run_takes_include_dirs_defines_and_cflags(project):
    include = ("-I", project / "include")
    assert run_verdict(project, *include, "-D", "FLAG=1") == "XDP_DROP"
    assert run_verdict(project, *include, "-D", "FLAG=1", "-D", "VERDICT=XDP_PASS") == "XDP_PASS"
    assert run_verdict(project, *include, "--cflags", "-DFLAG=1 -DVERDICT=XDP_TX") == "XDP_TX"
    assert run_verdict(project, *include, "-D", "FLAG=0") == "XDP_ABORTED"
    # each set of flags has its own object: no stale reuse, and the source tree stays clean
    assert len(list((project / "cache" / "objects").glob("prog-*.o"))) == 4
    assert sorted(p.name for p in (project / "src").iterdir()) == ["prog.c"]


def test_without_the_include_dir_the_build_fails_naming_the_header(project):
    result = invoke("run", project / "src" / "prog.c", "--packet", FRAME.hex())
    assert result.exit_code == 1 and "'verdict.h' file not found" in result.stderr


def test_verify_replay_inspect_disasm_offload_take_them_too(project):
    source, flags = project / "src" / "prog.c", ("-I", project / "include", "-D", "FLAG=1")
    verified = invoke("verify", source, *flags, "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["accepted"], verified.output
    capture = project / "in.pcap"
    capture.write_bytes(classic([FRAME, FRAME]))
    replayed = invoke("replay", source, capture, *flags, "-D", "VERDICT=XDP_PASS", "--target", "vm", "--json")
    assert json.loads(replayed.stdout)["summary"]["verdicts"]["XDP_PASS"] == 2, replayed.output
    for command in ("inspect", "disasm"):
        assert invoke(command, source, *flags).exit_code == 0, command
    assert invoke("offload", source, *flags, "--state", project / "state").exit_code in (0, 1)  # fits or not: built


def test_spec_keys_and_test_options(project):
    spec = project / "spec.toml"
    spec.write_text(f'''program = "src/prog.c"
include = ["include"]
defines = ["FLAG=1"]
cflags = ["-Wno-unused-variable"]

[[case]]
name = "the header's verdict"
packet_hex = "{FRAME.hex()}"
expect.verdict = "XDP_DROP"
''')
    assert invoke("test", spec, "--target", "vm").exit_code == 0
    overridden = invoke("test", spec, "--target", "vm", "-D", "VERDICT=XDP_PASS")  # the command line's come last
    assert overridden.exit_code == 1 and "verdict: expected XDP_DROP, got XDP_PASS" in overridden.stdout
    spec.write_text(spec.read_text().replace('include = ["include"]', 'include = "include"'))
    bad = invoke("test", spec)
    assert bad.exit_code == 2 and "spec.toml:2: include: expected a list of strings" in bad.stderr


def test_build_writes_next_to_the_source_and_takes_cflags(project):
    source = project / "src" / "prog.c"
    result = invoke("build", source, "-I", project / "include", "--cflags", "-DFLAG=1 -include stdbool.h")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"built {source.with_suffix('.o')}"
    document = json.loads(invoke("build", source, "-I", project / "include", "--cflags", "-DFLAG=1 -mcpu=v3",
                                 "--json").stdout)
    assert document["command"][-6:-4] == ["-DFLAG=1", "-mcpu=v3"]  # after -I/-D, before the input
    bad = invoke("build", source, "--cflags", '"-DX')
    assert bad.exit_code == 2 and bad.stderr.strip() == "error: --cflags: No closing quotation"


def test_a_missing_header_is_named_with_its_package(project, monkeypatch):
    """As gnu/stubs-32.h -> libc6-dev-i386 (what xdp-tutorial's configure asks for)."""
    monkeypatch.setitem(__import__("xdptool.toolchain", fromlist=["x"]).MISSING_HEADER_PACKAGES,
                        "xdptool_test/absent.h", "xdptool-test-dev")
    source = project / "src" / "absent.c"
    source.write_text('#include <xdptool_test/absent.h>\n')
    built = invoke("build", source)
    assert built.exit_code == 1
    assert "xdptool: xdptool_test/absent.h is missing: install it with apt-get install xdptool-test-dev" in built.stderr
    ran = invoke("run", source, "--packet", FRAME.hex())
    assert ran.exit_code == 1 and "(xdptool_test/absent.h is missing: install it with apt-get install xdptool-test-dev)" in ran.stderr


def test_the_stubs_header_maps_to_libc6_dev_i386():
    from xdptool.toolchain import missing_header_hint

    stderr = "/usr/include/x86_64-linux-gnu/gnu/stubs.h:7:11: fatal error: 'gnu/stubs-32.h' file not found\n"
    assert missing_header_hint(stderr) == "gnu/stubs-32.h is missing: install it with apt-get install libc6-dev-i386"


@pytest.mark.skipif(platform.machine() != "x86_64" or shutil.which("make") is None, reason="x86_64 with make only")
def test_make_setup_installs_libc6_dev_i386():
    database = subprocess.run(["make", "-pn", "-f", str(ROOT / "Makefile"), "system-deps"], capture_output=True,
                              text=True, cwd=ROOT).stdout
    packages = next(line for line in database.splitlines() if line.startswith("APT_PACKAGES :="))
    assert "libc6-dev-i386" in packages.split()
