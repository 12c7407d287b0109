"""Map values through BTF: `bpftool map dump`'s "formatted" (checked against bpftool on
the running kernel), xdptool's additions (network order, MAC and IP addresses), and
where the CLI shows them: `maps dump`, `inspect`'s global data, replay's summary and
--maps-out, spec failure messages, prog_array slots as program names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import PROGRAMS
from test_elf_loader import compiled
from xdptool.cli.main import cli
from xdptool.elf import load_object
from xdptool.elf.values import MapValues, render

FLOW_KEY = bytes.fromhex("0a000001" "0a000002" "0035" "01bb" "11" "000000")  # 10.0.0.1 -> 10.0.0.2, 53 -> 443, UDP


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def values_obj():
    return load_object(compiled("values"))


def data_value(obj, section: str, plain: bool = False):
    mdef = obj.maps[section]
    return obj.btf.format_value(mdef.btf_value_type_id, mdef.initial, plain=plain)


def test_struct_of_every_kind_as_written_in_the_source(values_obj):
    """The initialiser of default_backend in tests/data/elf/values.c, read back."""
    assert data_value(values_obj, ".data") == {"default_backend": {
        "mac": "02:00:00:00:00:0a", "ip6_addr": "2001:db8::1",
        "weight": 100, "up": 1, "delta": -2,            # bitfields, one signed
        "as_u32": 0x01020304, "as_bytes": [4, 3, 2, 1],  # an anonymous union: its members are the struct's
        "load": {"raw": 0x00050001, "halves": [1, 5]},
        "mode": "MODE_ON", "name": "web", "grid": [[1, 2], [3, 4]], "active": True, "balance": -5,
    }}
    assert data_value(values_obj, ".rodata") == {"limit": 1500}
    assert data_value(values_obj, ".bss") == {"counter": 0}


def test_network_order_fields_and_addresses(values_obj):
    flows = values_obj.maps["flows"]
    assert values_obj.btf.format_value(flows.btf_key_type_id, FLOW_KEY) == {
        "saddr": "10.0.0.1", "daddr": "10.0.0.2", "sport": 53, "dport": 443, "proto": 17, "pad": [0, 0, 0]}
    # bpftool's own view of the same bytes: host-order integers, byte lists
    assert values_obj.btf.format_value(flows.btf_key_type_id, FLOW_KEY, plain=True) == {
        "saddr": 0x0100000A, "daddr": 0x0200000A, "sport": 0x3500, "dport": 0xBB01, "proto": 17, "pad": [0, 0, 0]}


def test_a_short_value_is_shown_as_hex_not_misread(values_obj):
    assert values_obj.btf.format_value(values_obj.maps["flows"].btf_value_type_id, b"\x01\x02") == "0102"


def test_float_and_custom_section():
    obj = load_object(compiled("btf_kinds"))
    assert data_value(obj, ".data") == {"ratio": 0.5}
    custom = data_value(obj, ".data.custom")["example"]
    assert (custom["a"], custom["b"], custom["c"], custom["col"], custom["name"]) == (1, 0, 2, "RED", ["", "", ""])


def test_prog_array_slots_are_program_names():
    obj = load_object(compiled("multi"))
    values = MapValues(obj)
    slot = obj.programs.index(next(p for p in obj.programs if p.name == "tail_target"))
    assert values.entry("jumps", {"key": "02000000", "value": slot.to_bytes(4, "little").hex()}) == {
        "key": 2, "value": "tail_target"}


def test_legacy_maps_without_btf_stay_hex():
    obj = load_object(compiled("legacy"))
    hashed = [name for name, m in obj.maps.items() if not m.btf_value_type_id and m.type.name.endswith("HASH")]
    assert hashed, "the legacy fixture declares a hash map without BTF"
    entry = {"key": "00" * obj.maps[hashed[0]].key_size, "value": "00" * obj.maps[hashed[0]].value_size}
    assert MapValues(obj).entry(hashed[0], entry) is None


def test_render_is_one_line():
    assert render({"a": [1, "x"], "b": {"c": True}}) == "{a: [1, x], b: {c: true}}"


# -- against bpftool ---------------------------------------------------------------


def _bpftool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bpftool", *args], capture_output=True, text=True)


@pytest.mark.kernel
def test_plain_mode_is_bpftool_map_dump(values_obj, tmp_path):
    """bpftool loads the object (libbpf creates the maps with their BTF) and dumps each
    map; its "formatted" equals format_value(plain=True) for every entry."""
    from test_elf_kernel import bpffs_unavailable

    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    reason = bpffs_unavailable()
    if reason:
        pytest.skip(reason)
    pins = Path(f"/sys/fs/bpf/xdptool_values_{os.getpid()}")
    shutil.rmtree(pins, ignore_errors=True)
    pins.mkdir()
    try:
        loaded = _bpftool("prog", "loadall", values_obj.path, str(pins / "progs"), "pinmaps", str(pins / "maps"))
        if loaded.returncode != 0:
            pytest.skip(f"bpftool prog loadall: {loaded.stderr.strip().splitlines()[-1:]}")
        value = bytes(range(7, 7 + values_obj.maps["flows"].value_size))
        assert _bpftool("map", "update", "pinned", str(pins / "maps" / "flows"), "key", "hex", *FLOW_KEY.hex(" ").split(),
                        "value", "hex", *value.hex(" ").split()).returncode == 0
        assert _bpftool("map", "update", "pinned", str(pins / "maps" / "signed_values"), "key", "1", "0", "0", "0",
                        "value", "0xfe", "0xff", "0xff", "0xff").returncode == 0
        # libbpf names global-data maps <object prefix>.<section>, pinned with '.' as '_'
        sections = {f"values_{name[1:]}": name for name in (".data", ".rodata", ".bss")}
        compared = 0
        for pinned in sorted(os.listdir(pins / "maps")):
            dump = json.loads(_bpftool("-j", "map", "dump", "pinned", str(pins / "maps" / pinned)).stdout)
            name = sections.get(pinned, pinned)
            mdef = values_obj.maps[name]
            for entry in dump:
                key = bytes(int(b, 16) for b in entry["key"])
                raw = bytes(int(b, 16) for b in entry["value"])
                value = values_obj.btf.format_value(mdef.btf_value_type_id, raw, plain=True)
                if mdef.is_global_data:  # bpftool shows a DATASEC's value only
                    assert entry["formatted"] == {"value": value}, name
                else:
                    assert entry["formatted"] == {"key": values_obj.btf.format_value(mdef.btf_key_type_id, key, plain=True),
                                                  "value": value}, name
                compared += 1
        assert compared == 1 + 2 + 3  # flows, signed_values' two slots, the three sections
    finally:
        shutil.rmtree(pins, ignore_errors=True)


# -- through the CLI -----------------------------------------------------------------


def test_inspect_shows_the_initial_global_data(values_obj):
    result = invoke("inspect", values_obj.path)
    assert result.exit_code == 0, result.output
    assert ".rodata initial values: {limit: 1500}" in result.stdout
    doc = json.loads(invoke("inspect", values_obj.path, "--json").stdout)
    data = {d["name"]: d["values"] for d in doc["global_data"]}
    assert data[".data"]["default_backend"]["mac"] == "02:00:00:00:00:0a"


def test_maps_dump_on_the_card(tmp_path, monkeypatch, built_examples):
    monkeypatch.chdir(tmp_path)
    assert invoke("offload", built_examples["l4_lb"]).exit_code == 0
    assert invoke("maps", "set", "backends", "00000000", "0a00000202000000000a0000").exit_code == 0
    text = invoke("maps", "dump", "backends").stdout.splitlines()
    assert text[1] == "  0 -> {addr: 10.0.0.2, mac: 02:00:00:00:00:0a, pad: 0}    (00000000 -> 0a00000202000000000a0000)"
    (first, *_rest) = json.loads(invoke("maps", "dump", "backends", "--json").stdout)["backends"]
    assert first == {"key": "00000000", "value": "0a00000202000000000a0000",
                     "formatted": {"key": 0, "value": {"addr": "10.0.0.2", "mac": "02:00:00:00:00:0a", "pad": 0}}}


def test_replay_summary_and_maps_out(tmp_path, built_examples):
    obj = built_examples["port_blocklist"]
    maps_out = tmp_path / "maps.json"
    result = invoke("replay", obj, PROGRAMS / "port_blocklist.pcap", "--maps-in", PROGRAMS / "port_blocklist.maps.json",
                    "--maps-out", maps_out, "--target", "vm")
    assert result.exit_code == 0, result.output
    # programs/port_blocklist.maps.json blocks 23, 53, 445 and 11211; the capture's drops per port
    assert "map drops: 4 added (23 -> 3, 53 -> 5, 445 -> 3, 11211 -> 1)" in result.stdout
    state = json.loads(maps_out.read_text())
    assert {"key": "0035", "value": "05000000", "formatted": {"key": 53, "value": 5}} in state["drops"]
    # --maps-in reads it back (the formatted view is ignored): the counters carry on
    again = invoke("replay", obj, PROGRAMS / "port_blocklist.pcap", "--maps-in", maps_out, "--target", "vm", "--json")
    drops = {e["formatted"]["key"]: e["formatted"]["value"] for e in json.loads(again.stdout)["maps"]["drops"]}
    assert drops == {23: 6, 53: 10, 445: 6, 11211: 2}


def test_spec_failure_shows_values_through_btf(tmp_path):
    spec = tmp_path / "spec.toml"
    spec.write_text(f'''program = "{PROGRAMS / 'port_blocklist.c'}"
[[maps.blocklist]]
key = "0035"
value = "01"
[[case]]
name = "counted twice"
packet = "Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(sport=5353, dport=53)"
expect.maps.drops = [{{ key = "0035", value = "02000000" }}]
''')
    result = invoke("test", spec, "--target", "vm")
    assert result.exit_code == 1
    assert "map drops key 53 (0035): expected 2 (02000000), got 1 (01000000)" in result.stdout
