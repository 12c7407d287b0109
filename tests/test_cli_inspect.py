"""`xdptool inspect`: the JSON document, and its map specs against the kernel's."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from test_elf_kernel import BPF_F_MMAPABLE, KERNEL_ADDED_FLAGS, bpftool, libbpf_version, pin_dir  # noqa: F401
from xdptool.cli.main import cli
from xdptool.elf.model import MapType


def inspect_json(path) -> dict:
    result = CliRunner().invoke(cli, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_document_shape(built_examples):
    doc = inspect_json(built_examples["port_blocklist"])
    (prog,) = doc["programs"]
    assert prog["section"] == "xdp" and prog["type"] == "xdp" and prog["insn_count"] > 20
    maps = {m["name"]: m for m in doc["maps"]}
    assert maps["blocklist"]["type"] == "hash"
    assert {"name", "type", "key_size", "value_size", "max_entries", "flags"} <= set(maps["blocklist"])
    assert doc["btf"]["line_info"] > 0


def test_subprograms_listed(built_examples):
    (prog,) = inspect_json(built_examples["bpf2bpf_call"])["programs"]
    assert prog["subprograms"], "bpf2bpf_call should list its BPF-to-BPF callees"


def test_human_output(built_examples):
    result = CliRunner().invoke(cli, ["inspect", str(built_examples["proto_counters"])])
    assert result.exit_code == 0 and "percpu_array" in result.output


@pytest.mark.parametrize("content", [b"", b"not an elf at all", b"\x7fELF\x02\x01\x01" + b"\0" * 9])
def test_bad_objects_exit_2(tmp_path, content):
    path = tmp_path / "bad.o"
    path.write_bytes(content)
    for command in ("inspect", "disasm"):
        result = CliRunner().invoke(cli, [command, str(path)])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.kernel
def test_every_example_map_spec_matches_the_kernel(built_examples, pin_dir):
    old_libbpf = libbpf_version() < (1, 2)
    pin_dir.mkdir()
    compared = 0
    for name, obj in built_examples.items():
        doc = inspect_json(obj)
        loaded = bpftool("prog", "loadall", str(obj), str(pin_dir / name), "type", "xdp")
        if loaded.returncode != 0 and "Operation not permitted" in loaded.stderr:
            pytest.skip("bpftool prog loadall: the kernel refuses (no CAP_BPF)")
        assert loaded.returncode == 0, (name, loaded.stderr[-1500:])
        map_ids = set()
        for prog in doc["programs"]:
            shown = json.loads(bpftool("prog", "show", "pinned", str(pin_dir / name / prog["name"]), "-j").stdout)
            map_ids.update(shown.get("map_ids", []))
        kernel = [json.loads(bpftool("map", "show", "id", str(i), "-j").stdout) for i in map_ids]
        for m in doc["maps"]:
            found = [k for k in kernel if (k["name"].endswith(m["name"][:15]) if m["global_data"] else k["name"] == m["name"][:15])]
            if not found:
                continue  # declared but not referenced by any program: libbpf still creates it, but unlinked
            (k,) = found
            flags = m["flags"] | KERNEL_ADDED_FLAGS.get(MapType[m["type"].upper()], 0)
            if old_libbpf and m["global_data"]:
                flags |= BPF_F_MMAPABLE
            assert (k["type"], k["bytes_key"], k["bytes_value"], k["max_entries"], k["flags"]) == (
                m["type"], m["key_size"], m["value_size"], m["max_entries"], flags), (name, m["name"])  # fmt: skip
            compared += 1
    assert compared >= 15
