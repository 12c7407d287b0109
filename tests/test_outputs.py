"""Outputs never destroy inputs (issue 17, item 4), and what a rerun may replace.

The rule (xdptool/files.py): an output is never an input of the same command,
never written through a link, and replaces an existing file only if that file is
of the output's kind (an earlier run's output) or with --force.  Outputs are
published by rename, so a failed or parallel run never leaves half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.errors import XdpError
from xdptool.files import check_output
from xdptool.replay.pcap import write_pcap

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
SPEC = PROGRAMS / "specs" / "port_blocklist.toml"
VERDICT_FILES = ("pass.pcap", "drop.pcap", "tx.pcap", "redirect.pcap", "aborted.pcap")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def refused(result, *words: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(w in lines[0] for w in words), lines[0]
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """A copy of port_blocklist (source, header, capture, maps) with its object built."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    base = tmp_path_factory.mktemp("outputs")
    for name in ("port_blocklist.c", "parsing.h", "port_blocklist.pcap", "port_blocklist.maps.json"):
        shutil.copy(PROGRAMS / name, base / name)
    assert invoke("build", base / "port_blocklist.c").exit_code == 0
    return base


def replay(work: Path, *args):
    return invoke("replay", work / "port_blocklist.o", *args)


def test_replaying_an_output_into_its_own_directory_is_refused_and_the_input_intact(work, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # over 1 MiB: the reader maps it, so truncating it under the reader would be SIGBUS
    frame = bytes.fromhex("020000000002020000000001080045000020000100004011f9c80a0000010a000002") + bytes(30)
    write_pcap(out / "drop.pcap", [frame] * 20_000)
    before = digest(out / "drop.pcap")
    refused(replay(work, out / "drop.pcap", "--out-dir", out), "drop.pcap", "is an input")
    refused(replay(work, out / "drop.pcap", "--out-dir", out, "--force"), "is an input")
    assert digest(out / "drop.pcap") == before
    assert sorted(p.name for p in out.iterdir()) == ["drop.pcap"]


def test_an_input_hard_linked_into_the_out_dir_is_refused(work, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    os.link(work / "port_blocklist.pcap", out / "pass.pcap")
    refused(replay(work, work / "port_blocklist.pcap", "--out-dir", out), "the same file as")


def test_a_symlinked_output_is_refused_and_force_replaces_the_link_not_its_target(work, tmp_path):
    out, victim = tmp_path / "out", tmp_path / "precious.txt"
    out.mkdir()
    victim.write_text("precious\n")
    (out / "pass.pcap").symlink_to(victim)
    refused(replay(work, work / "port_blocklist.pcap", "--out-dir", out), "symbolic link")
    assert (out / "pass.pcap").is_symlink()
    assert replay(work, work / "port_blocklist.pcap", "--out-dir", out, "--force").exit_code == 0
    assert victim.read_text() == "precious\n"
    assert not (out / "pass.pcap").is_symlink()


def test_a_rerun_replaces_its_own_outputs_but_not_other_files(work, tmp_path):
    out, capture = tmp_path / "out", work / "port_blocklist.pcap"
    for _ in range(2):
        result = replay(work, capture, "--out-dir", out, "--maps-out", tmp_path / "maps.json")
        assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(VERDICT_FILES)  # no temporary file left
    (out / "tx.pcap").write_text("notes\n")
    refused(replay(work, capture, "--out-dir", out), "tx.pcap", "is not a pcap capture", "--force")
    assert (out / "tx.pcap").read_text() == "notes\n"
    assert replay(work, capture, "--out-dir", out, "--force").exit_code == 0


def test_maps_out_onto_the_capture_or_the_object_is_refused(work):
    capture = work / "port_blocklist.pcap"
    before = digest(capture)
    refused(replay(work, capture, "--maps-out", capture), "is an input")
    refused(replay(work, capture, "--maps-out", work / "port_blocklist.o", "--force"), "is an input")
    assert digest(capture) == before


def test_maps_out_may_carry_the_maps_in_file_forward(work, tmp_path):
    state = tmp_path / "maps.json"
    shutil.copy(work / "port_blocklist.maps.json", state)

    def drops() -> dict[str, int]:
        entries = json.loads(state.read_text())["drops"]
        return {e["key"]: int.from_bytes(bytes.fromhex(e["value"]), "little") for e in entries}

    counts = []
    for _ in range(2):
        result = replay(work, work / "port_blocklist.pcap", "--maps-in", state, "--maps-out", state)
        assert result.exit_code == 0, result.output
        counts.append(drops())
    assert counts[0] and counts[1] == {key: 2 * n for key, n in counts[0].items()}


def test_maps_out_onto_an_out_dir_file_is_refused(work, tmp_path):
    refused(replay(work, work / "port_blocklist.pcap", "--out-dir", tmp_path, "--maps-out", tmp_path / "drop.pcap",
                   "--force"), "is another output")  # fmt: skip


def test_build_onto_its_source_or_header_is_refused(work):
    source = work / "port_blocklist.c"
    before = digest(source)
    refused(invoke("build", source, "-o", source), "is an input")
    refused(invoke("build", source, "-o", work / "parsing.h", "--force"), "is an input")
    assert digest(source) == before


def test_build_replaces_an_object_but_not_another_file(work, tmp_path):
    source, notes = work / "port_blocklist.c", tmp_path / "notes.o"
    for _ in range(2):
        assert invoke("build", source, "-o", tmp_path / "fw.o").exit_code == 0
    notes.write_text("not an object\n")
    refused(invoke("build", source, "-o", notes), "is not an ELF object")
    assert notes.read_text() == "not an object\n"
    assert invoke("build", source, "-o", notes, "--force").exit_code == 0
    assert notes.read_bytes().startswith(b"\x7fELF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fw.o", "notes.o"]


def test_a_failed_build_leaves_an_existing_object_untouched(work, tmp_path):
    bad, unrelated = tmp_path / "bad.c", tmp_path / "other.o"
    bad.write_text("int broken(\n")
    shutil.copy(work / "port_blocklist.o", unrelated)
    before = digest(unrelated)
    result = invoke("build", bad, "-o", unrelated)
    assert result.exit_code == 1
    assert digest(unrelated) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.c", "other.o"]


def test_offload_listing_onto_the_object_is_refused(work, tmp_path):
    obj = work / "port_blocklist.o"
    before = digest(obj)
    refused(invoke("offload", obj, "--state", tmp_path, "-o", obj, "--force"), "is an input")
    refused(invoke("offload", work / "port_blocklist.c", "--state", tmp_path, "-o", obj), "is an input")
    assert digest(obj) == before
    listing = tmp_path / "fw.s"
    for _ in range(2):  # a rerun replaces its own listing
        assert invoke("offload", obj, "--state", tmp_path / "state", "-o", listing).exit_code == 0
    assert listing.read_text().startswith("; ")


def test_junit_onto_the_spec_is_refused(tmp_path):
    spec = tmp_path / "port_blocklist.toml"
    spec.write_text(SPEC.read_text().replace('"../port_blocklist.c"', f'"{PROGRAMS / "port_blocklist.c"}"'))
    before = digest(spec)
    refused(invoke("test", spec, "--junit", spec, "--force"), "is an input")
    refused(invoke("test", spec, "--coverage", "--lcov", PROGRAMS / "port_blocklist.c", "--force"), "is an input")
    assert digest(spec) == before


@pytest.mark.parametrize("option", ["--junit", "--lcov"])
def test_an_unwritable_report_path_stops_before_any_test_runs(tmp_path, option):
    result = invoke("test", SPEC, "--coverage", option, tmp_path / "missing" / "report")
    refused(result, "missing/report", "cannot write")
    assert "PASS" not in result.stdout


def test_parallel_cache_builds_publish_whole_objects(work, tmp_path):
    from xdptool.testing.runner import build_cached

    source = work / "port_blocklist.c"
    for round_ in range(2):
        cache = tmp_path / f"cache{round_}"
        with ThreadPoolExecutor(4) as pool:
            built = list(pool.map(lambda _: build_cached(source, cache), range(4)))
        assert len(set(built)) == 1
        assert [p.name for p in cache.iterdir()] == [built[0].name]  # no temporary file left
        assert built[0].read_bytes().startswith(b"\x7fELF")


def test_the_guard_on_its_own(tmp_path):
    data = tmp_path / "in.json"
    data.write_text("{}")
    check_output("/dev/null", "json", [data])  # a device is written in place
    check_output(tmp_path / "new.json", "json", [data])
    check_output(data, "json", [])  # an earlier output of the kind
    os.link(data, tmp_path / "alias.json")
    with pytest.raises(XdpError, match="the same file as"):
        check_output(tmp_path / "alias.json", "json", [data], force=True)
    with pytest.raises(XdpError, match="is a directory"):
        check_output(tmp_path, "json", [], force=True)
    (tmp_path / "empty.xml").write_bytes(b"")
    check_output(tmp_path / "empty.xml", "junit", [])  # an empty file holds nothing to lose
