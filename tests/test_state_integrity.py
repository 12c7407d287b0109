"""The emulated NIC's state directory never loses an acknowledged update (issue 17, item 3).

Processes are killed, disks fill up (XDPTOOL_TEST_WRITE_FAULT, the test hook in
xdptool/files.py) and commands run in parallel; afterwards the state must read
back whole, with every update a command reported done.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.files import FAULT_HOOK

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
CAPTURE = PROGRAMS / "port_blocklist.pcap"
DROPS_PER_REPLAY = 5  # port_blocklist.pcap's UDP packets to port 53 (0035), blocked below (README: `maps dump drops`)
XDPTOOL = [sys.executable, "-c", "from xdptool.cli.main import main; main()"]


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def spawn(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen([*XDPTOOL, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=dict(os.environ, **(env or {})))


def wait_for_pause(proc: subprocess.Popen) -> None:
    """Read the child's stderr up to the hook's marker (the write is then fully staged, not renamed)."""
    for line in proc.stderr:
        if line.startswith("xdptool-test: paused writing"):
            return
    raise AssertionError(f"the child ended without reaching the hook (exit {proc.wait()})")


def one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def counter(n: int, state: Path) -> str:
    """A `drops` value holding n, as wide as the offloaded object's map says."""
    from xdptool.elf import load_object

    obj = json.loads((state / "nfp" / "offload.json").read_text())["object"]
    return n.to_bytes(load_object(obj).maps["drops"].value_size, "little").hex()


def dump(state: Path) -> dict:
    result = invoke("maps", "dump", "--state", state, "--json")
    assert result.exit_code == 0, result.output
    return {name: {e["key"]: e["value"] for e in entries} for name, entries in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def offloaded(tmp_path_factory):
    """A state directory with port_blocklist offloaded and port 53 blocked (copied by `card`)."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    base = tmp_path_factory.mktemp("card")
    obj = toolchain.build(PROGRAMS / "port_blocklist.c", base / "port_blocklist.o").output
    state = base / "state"
    assert invoke("offload", obj, "--state", state).exit_code == 0
    assert invoke("maps", "set", "--state", state, "blocklist", "0035", "01").exit_code == 0
    return state


@pytest.fixture
def card(offloaded, tmp_path) -> Path:
    state = tmp_path / "state"
    shutil.copytree(offloaded, state)
    return state


def test_a_maps_set_killed_mid_write_leaves_the_acknowledged_state(card):
    before = (card / "nfp" / "maps.json").read_bytes()
    proc = spawn("maps", "set", "--state", card, "blocklist", "0050", "01", env={FAULT_HOOK: "pause:maps.json"})
    wait_for_pause(proc)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    assert (card / "nfp" / "maps.json").read_bytes() == before
    assert dump(card)["blocklist"] == {"0035": "01"}
    # the lock died with the process, and the next writer clears its temporary file
    assert invoke("maps", "set", "--state", card, "blocklist", "0051", "01").exit_code == 0
    assert dump(card)["blocklist"] == {"0035": "01", "0051": "01"}
    assert not list((card / "nfp").glob(".*.tmp"))


def test_a_replay_killed_while_saving_the_card_leaves_the_acknowledged_state(card):
    proc = spawn("replay", CAPTURE, "--state", card, env={FAULT_HOOK: "pause:maps.json"})
    wait_for_pause(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert dump(card) == {"blocklist": {"0035": "01"}, "drops": {}}
    assert invoke("maps", "set", "--state", card, "blocklist", "01bd", "02").exit_code == 0


@pytest.mark.parametrize("command", [
    ("maps", "set", "blocklist", "0050", "01"),
    ("maps", "reset"),
    ("replay", CAPTURE),
])  # fmt: skip
def test_a_full_disk_leaves_the_old_state(card, command):
    maps = card / "nfp" / "maps.json"
    before = maps.read_bytes()
    result = invoke(*command, "--state", card, env={FAULT_HOOK: "enospc:maps.json"})
    assert "maps.json: cannot write: No space left on device" in one_line_error(result)
    assert maps.read_bytes() == before
    assert not list((card / "nfp").glob(".*.tmp"))


def test_a_write_the_file_system_really_refuses_leaves_the_old_state(card):
    """RLIMIT_FSIZE makes write(2) fail with EFBIG past the limit: a real short write, no hook."""
    maps = card / "nfp" / "maps.json"
    before = maps.read_bytes()

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) + 8, resource.RLIM_INFINITY))

    proc = subprocess.run([*XDPTOOL, "maps", "set", "--state", str(card), "drops", "0035", counter(1, card)],
                          capture_output=True, text=True, preexec_fn=limit_file_size)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.strip().endswith("maps.json: cannot write: File too large"), proc.stderr
    assert maps.read_bytes() == before
    assert not list((card / "nfp").glob(".*.tmp"))


def test_an_offload_failing_on_a_full_disk_leaves_the_card_usable(card):
    obj = json.loads((card / "nfp" / "offload.json").read_text())["object"]
    one_line_error(invoke("offload", obj, "--state", card, env={FAULT_HOOK: "enospc:offload.json"}))
    assert invoke("replay", CAPTURE, "--state", card).exit_code == 0


WRITER = """
import sys
from xdptool.cli.main import main
state, value, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
for key in keys:
    sys.argv = ["xdptool", "maps", "set", "--state", state, "drops", key, value]
    try:
        main()
    except SystemExit as exc:
        if exc.code in (0, None):
            print("acknowledged", key, flush=True)
"""


def test_parallel_maps_set_writers_lose_nothing(card):
    keys = [f"{k:04x}" for k in range(0x1000, 0x1000 + 60)]
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(card), counter(1, card), *keys[w::8]], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for w in range(8)]  # fmt: skip
    acknowledged, errors = set(), []
    for proc in writers:
        out, err = proc.communicate(timeout=120)
        acknowledged.update(line.split()[1] for line in out.splitlines() if line.startswith("acknowledged "))
        errors += [line for line in err.splitlines() if line.startswith("error")]
    assert errors == [] and acknowledged == set(keys)
    assert set(dump(card)["drops"]) == acknowledged


def test_parallel_replays_add_up_and_a_maps_set_during_a_replay_survives(card):
    first = spawn("replay", CAPTURE, "--state", card, env={FAULT_HOOK: "pause:maps.json:1"})
    wait_for_pause(first)  # the first replay holds the card until it has saved its maps
    second = spawn("replay", CAPTURE, "--state", card)
    setter = spawn("maps", "set", "--state", card, "drops", "9999", counter(7, card))
    for proc in (first, second, setter):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    maps = dump(card)
    assert maps["drops"] == {"0035": counter(2 * DROPS_PER_REPLAY, card), "9999": counter(7, card)}
    assert maps["blocklist"] == {"0035": "01"}


@pytest.mark.parametrize("content, what", [
    (b'{"blockl', "unreadable NIC state"),
    (b"", "unreadable NIC state"),
    (b"[]", "damaged NIC state"),
    (b'{"blocklist": [{"key": "zz"}]}', "malformed state"),
    (None, "missing"),
])  # fmt: skip
@pytest.mark.parametrize("command", [("maps", "dump"), ("maps", "set", "blocklist", "0050", "01"), ("replay", CAPTURE)])
def test_a_damaged_maps_file_is_one_line_naming_it_never_a_reset(card, content, what, command):
    maps = card / "nfp" / "maps.json"
    if content is None:
        maps.unlink()
    else:
        maps.write_bytes(content)
    line = one_line_error(invoke(*command, "--state", card))
    assert str(maps) in line and what in line
    assert (maps.read_bytes() if maps.exists() else None) == content


def test_a_damaged_offload_document_is_one_line_naming_it(card):
    offload = card / "nfp" / "offload.json"
    offload.write_text('{"object": 3}')
    for command in (("maps", "dump"), ("replay", CAPTURE)):
        line = one_line_error(invoke(*command, "--state", card))
        assert str(offload) in line and "damaged NIC state" in line
