"""Install and discoverability: the package metadata, `--help` covering every option of
every command, and click's shell completion through the lazy command group."""

from __future__ import annotations

import tomllib

import click
import pytest
from click.testing import CliRunner

from conftest import ROOT
from xdptool.cli.main import COMMANDS, cli


def commands():
    ctx = click.Context(cli)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        yield [name], command
        if isinstance(command, click.Group):
            yield from (([name, sub], c) for sub, c in command.commands.items())


@pytest.mark.parametrize("path, command", list(commands()), ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_names_and_explains_every_option(path, command):
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert command.help and " ".join(command.help.split()).split(".")[0] in text
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, (path, param.opts)
            assert all(opt in text for opt in param.opts), (path, param.opts)
            assert " ".join(param.help.split())[:30] in text, (path, param.opts)


def test_top_level_help_lists_every_command():
    text = CliRunner().invoke(cli, ["--help"]).output
    assert all(f"  {name}" in text for name in COMMANDS)


def complete(words: str, cword: int) -> list[str]:
    env = {"_XDPTOOL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = CliRunner().invoke(cli, [], env=env, prog_name="xdptool")
    return [line.split(",", 1)[1] for line in result.output.splitlines()]


def test_shell_completion_of_commands_and_options():
    assert complete("xdptool rep", 1) == ["replay"]
    assert set(complete("xdptool replay --p", 2)) == {"--prog", "--pcapng", "--per-queue"}
    assert "bash_source" in (ROOT / "README.md").read_text()


def test_package_metadata():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11" and project["readme"] == "README.md"
    assert project["license"] == "GPL-2.0-only" and project["license-files"] == ["LICENSE"]
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()[:200]
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in project["classifiers"])
    readme = (ROOT / "README.md").read_text()
    assert "## Installation" in readme and "pip install ." in readme and "libc6-dev-i386" in readme


GC_PROBE = """
import atexit, gc, sys
atexit.register(lambda: print("collector on:", gc.isenabled(), "frozen:", gc.get_freeze_count() > 0, file=sys.stderr))
sys.argv = ["xdptool", *sys.argv[1:]]
from xdptool.cli.main import main
main()
"""


@pytest.mark.parametrize("args, frozen", [
    (["replay", "{obj}", "{pcap}", "--json"], True),  # replay turns it on itself, once its engine is made
    (["replay", "{obj}", "{pcap}", "--target", "vm", "--compare", "jit"], True),  # Python engines run packets
    (["replay", "{obj}", "{pcap}", "--target", "vm", "--queues", "2"], False),  # forked workers (queues.py unfreezes)
    (["inspect", "{obj}"], True),  # any other command: once it is resolved
])
def test_collector_is_off_only_while_modules_load(tmp_path, args, frozen):
    """main() turns the cyclic collector off for the start-up's module loading; by the time a
    command's work ran, it is on again (a replay through the vm would otherwise keep its
    garbage), with the start-up's objects frozen out of its passes."""
    import subprocess
    import sys

    from test_pcap_builders import classic, ether_frame

    pcap = tmp_path / "in.pcap"
    pcap.write_bytes(classic([ether_frame(bytes([i]) * 50) for i in range(20)]))
    obj = ROOT / "programs" / "drop_all.c"
    argv = [a.format(obj=obj, pcap=pcap) for a in args]
    done = subprocess.run([sys.executable, "-c", GC_PROBE, *argv], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr  # --compare exits 1 on a difference (there is none)
    assert f"collector on: True frozen: {frozen}" in done.stderr


SCRIPT_PROBE = """
import gc, sys
from importlib.metadata import entry_points

class Watch:  # records whether the collector was on when click started to load
    def find_spec(self, name, path=None, target=None):
        if name == "click":
            print("collector on when click loads:", gc.isenabled(), file=sys.stderr)
        return None

sys.meta_path.insert(0, Watch())
(script,) = [e for e in entry_points(group="console_scripts") if e.name == "xdptool"]
sys.argv = ["xdptool", "--version"]
script.load()()
"""


def test_console_script_turns_the_collector_off_before_click_loads(tmp_path):
    """The installed `xdptool` script's entry point (pyproject's [project.scripts]) is the
    one that turns the collector off, before click's ~50k start-up objects are made."""
    import subprocess
    import sys

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["xdptool"] == "xdptool.cli:run"
    # run elsewhere: a source tree's own (maybe stale) xdptool.egg-info must not stand in for the install
    done = subprocess.run([sys.executable, "-c", SCRIPT_PROBE], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "collector on when click loads: False" in done.stderr
    assert "xdptool, version" in done.stdout


EXIT_PROBE = """
import atexit, sys
atexit.register(lambda: print("atexit ran", file=sys.stderr))
sys.argv = ["xdptool", *sys.argv[1:]]
from xdptool.cli.main import main
main()
"""


@pytest.mark.parametrize("args, status", [
    (["replay", "{obj}", "{pcap}", "--json"], 0),  # a replay leaves without Python's teardown (main._leave)
    (["replay", "{obj}", "{missing}"], 2),  # bad input: its line and status, as always
    (["replay", "{obj}", "{pcap}", "--target", "vm", "--queues", "2"], 0),  # forked workers, multiprocessing's atexit
    (["inspect", "{obj}"], 0),  # any other command: the normal exit
])
def test_a_replay_leaving_early_keeps_its_status_output_and_atexit_handlers(tmp_path, args, status):
    import json
    import subprocess
    import sys

    from test_pcap_builders import classic, ether_frame

    pcap = tmp_path / "in.pcap"
    pcap.write_bytes(classic([ether_frame(bytes([i]) * 50) for i in range(20)]))
    argv = [a.format(obj=ROOT / "programs" / "drop_all.c", pcap=pcap, missing=tmp_path / "none.pcap") for a in args]
    done = subprocess.run([sys.executable, "-c", EXIT_PROBE, *argv], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == status and done.stderr.splitlines()[-1] == "atexit ran", done.stderr
    if "--json" in args:
        assert json.loads(done.stdout)["summary"]["packets"] == 20  # stdout flushed whole
    if status:
        assert "none.pcap: no such file" in done.stderr
