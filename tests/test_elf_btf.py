"""The BTF parser, differentially against `bpftool btf dump -j`, plus hand-built bad BTF."""

from __future__ import annotations

import json
import struct

import pytest

from test_elf_loader import compiled, tool
from xdptool.elf import load_object
from xdptool.elf.btf import BTF, BTFExt, Kind
from xdptool.errors import ObjectFormatError

LINKAGE = {"VAR": ["static", "global", "extern"], "FUNC": ["static", "global", "extern"]}
INT_ENCODING = {0: "(none)", 1: "SIGNED", 2: "CHAR", 4: "BOOL"}


def bpftool_view(t) -> dict:
    """Our BtfType in the shape `bpftool btf dump -j` prints."""
    view = {"id": t.id, "kind": t.kind.name, "name": t.name or "(anon)"}
    k = t.kind
    if k is Kind.INT:
        view.update(size=t.size, bits_offset=t.int_offset, nr_bits=t.int_bits, encoding=INT_ENCODING[t.int_encoding])
    elif k in (Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG):
        view["type_id"] = t.type
    elif k is Kind.ARRAY:
        view.update(type_id=t.array[0], index_type_id=t.array[1], nr_elems=t.array[2])
    elif k in (Kind.STRUCT, Kind.UNION):
        members = []
        for m in t.members:
            member = {"name": m.name or "(anon)", "type_id": m.type, "bits_offset": m.bit_offset}
            if m.bitfield_size:
                member["bitfield_size"] = m.bitfield_size
            members.append(member)
        view.update(size=t.size, vlen=t.vlen, members=members)
    elif k in (Kind.ENUM, Kind.ENUM64):
        view.update(size=t.size, vlen=t.vlen, values=[{"name": m.name, "val": m.value} for m in t.members])
    elif k is Kind.FWD:
        view["fwd_kind"] = "union" if t.kind_flag else "struct"
    elif k is Kind.FUNC:
        view.update(type_id=t.type, linkage=LINKAGE["FUNC"][t.linkage])
    elif k is Kind.FUNC_PROTO:
        params = [{"name": m.name or "(anon)", "type_id": m.type} for m in t.members]
        view.update(ret_type_id=t.type, vlen=t.vlen, params=params)
    elif k is Kind.VAR:
        view.update(type_id=t.type, linkage=LINKAGE["VAR"][t.linkage])
    elif k is Kind.DATASEC:
        view.update(size=t.size, vlen=t.vlen, vars=[{"type_id": m.type, "offset": m.bit_offset, "size": m.size} for m in t.members])
    elif k is Kind.FLOAT:
        view["size"] = t.size
    elif k is Kind.DECL_TAG:
        view.update(type_id=t.type, component_idx=t.component_idx)
    return view


def comparable(bpftool_type: dict) -> dict:
    t = dict(bpftool_type)
    t.pop("encoding", None) if t["kind"] in ("ENUM", "ENUM64") else None
    if "values" in t:  # bpftool sign-extends 32-bit enum values to 64 bits
        t["values"] = [{"name": v["name"], "val": v["val"] & 0xFFFFFFFF} for v in t["values"]]
    return t


@pytest.mark.parametrize("fixture", ["btf_kinds", "multi", "legacy"])
def test_every_type_matches_bpftool(fixture):
    path = compiled(fixture)
    expected = json.loads(tool("bpftool", "btf", "dump", "file", str(path), "-j"))["types"]
    btf = load_object(path).btf
    assert len(btf.types) == len(expected) + 1
    for want, t in zip(expected, btf.types[1:]):
        got = bpftool_view(t)
        if "values" in got:
            got["values"] = [{"name": v["name"], "val": v["val"] & 0xFFFFFFFF} for v in got["values"]]
        assert got == comparable(want)


def test_kinds_fixture_covers_the_kinds_clang_emits():
    btf = load_object(compiled("btf_kinds")).btf
    kinds = {t.kind for t in btf.types[1:]}
    assert kinds >= set(Kind) - {Kind.VOID, Kind.ENUM64}  # clang 14 has no ENUM64


def test_resolve_sizeof_and_names():
    obj = load_object(compiled("btf_kinds"))
    btf = obj.btf
    flags = btf.find("flags", Kind.STRUCT)
    assert btf.sizeof(flags) == 48  # bpftool: STRUCT 'flags' size=48
    member = {m.name: m for m in btf.types[flags].members}
    assert btf.sizeof(member["name"].type) == 12  # char[3][4]
    assert btf.sizeof(member["p"].type) == 8
    p_target = btf.resolve(btf.resolve(member["p"].type).type)  # restrict ptr -> const volatile fwd
    assert (p_target.kind, p_target.name) == (Kind.FWD, "opaque")
    assert btf.resolve(member["tagged"].type).kind is Kind.PTR
    tagged_target = btf.resolve(btf.resolve(member["tagged"].type).type)  # through the type_tag
    assert btf.name_of(tagged_target.id) == "int"
    assert btf.sizeof(btf.find("number", Kind.UNION)) == 4
    assert btf.sizeof(btf.find("color", Kind.ENUM)) == 4
    assert btf.name_of(0) == "void"
    with pytest.raises(ObjectFormatError, match="no size"):
        btf.sizeof(btf.find("opaque", Kind.FWD))
    # the global .data.custom section is its own global-data map
    nm_value = obj.maps[".data.custom"].initial
    assert nm_value[4:8] == struct.pack("<i", 2)  # example.c = 2


def test_btf_ext_func_and_line_info():
    obj = load_object(compiled("btf_kinds"))
    ext: BTFExt = obj.btf_ext
    assert set(ext.func_info) == {".text", "xdp"}
    assert [obj.btf.name_of(t) for _, t in ext.func_info["xdp"]] == ["btf_prog"]
    assert all(r.file.endswith("btf_kinds.c") for records in ext.line_info.values() for r in records)
    prog = obj.program("btf_prog")
    assert [s.name for s in prog.subprograms] == ["btf_prog", "global_helper"]  # global .text function


# -- hand-built BTF -------------------------------------------------------------------


def build_btf(types: list[bytes], strings: bytes, endian: str = "<") -> bytes:
    body = b"".join(types)
    header = struct.pack(endian + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strings))
    return header + body + strings


def btf_type(name_off: int, kind: Kind, vlen: int, size_or_type: int, *extra: int, kind_flag: int = 0) -> bytes:
    info = (kind_flag << 31) | (kind << 24) | vlen
    return struct.pack("<III", name_off, info, size_or_type) + struct.pack(f"<{len(extra)}I", *extra)


STRINGS = b"\0int\0ptr\0"
INT = btf_type(1, Kind.INT, 0, 4, (1 << 24) | 32)


def test_hand_built_btf_parses():
    btf = BTF(build_btf([INT, btf_type(0, Kind.PTR, 0, 1), btf_type(5, Kind.TYPEDEF, 0, 2)], STRINGS))
    assert [t.kind for t in btf.types] == [Kind.VOID, Kind.INT, Kind.PTR, Kind.TYPEDEF]
    assert btf.resolve(3).kind is Kind.PTR and btf.sizeof(3) == 8 and btf.name_of(3) == "ptr"
    big = BTF(build_btf([struct.pack(">III", 1, (Kind.INT << 24), 4) + struct.pack(">I", 32)], STRINGS, ">"))
    assert (big.types[1].name, big.types[1].int_bits) == ("int", 32)


@pytest.mark.parametrize(
    "types, strings, message",
    [
        ([INT, btf_type(0, Kind.PTR, 0, 7)], STRINGS, "refers to type id 7"),
        ([INT, btf_type(0, Kind.ARRAY, 0, 0, 1, 9, 4)], STRINGS, "refers to type id 9"),
        ([btf_type(0, Kind.STRUCT, 1, 4, 1, 5, 0)], STRINGS, "refers to type id 5"),
        ([btf_type(500, Kind.INT, 0, 4, 32)], STRINGS, "string offset 500"),
        ([INT], b"\0int", "not NUL-terminated"),
        ([btf_type(0, 25, 0, 0)], STRINGS, "unknown kind 25"),
        ([btf_type(0, Kind.STRUCT, 3, 4)], STRINGS, "runs past"),
        ([INT[:10]], STRINGS, "runs past"),
        ([INT, btf_type(0, Kind.TYPEDEF, 0, 3), btf_type(0, Kind.CONST, 0, 2)], STRINGS, None),
    ],
)
def test_bad_btf_is_rejected(types, strings, message):
    data = build_btf(types, strings)
    if message is None:  # a modifier loop parses, but resolving it fails cleanly
        with pytest.raises(ObjectFormatError, match="loop"):
            BTF(data).sizeof(2)
        return
    with pytest.raises(ObjectFormatError, match=message):
        BTF(data)


def test_bad_header_and_ext():
    with pytest.raises(ObjectFormatError, match="bad magic"):
        BTF(b"\0" * 24)
    good = build_btf([INT], STRINGS)
    with pytest.raises(ObjectFormatError, match="runs past"):
        BTF(good[:-3])
    btf = BTF(good)
    func_info = struct.pack("<III", 8, 0, 1) + struct.pack("<II", 0, 9)  # type id 9 does not exist
    ext = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(func_info), len(func_info), 0) + func_info
    with pytest.raises(ObjectFormatError, match="type id 9"):
        BTFExt.parse(ext, btf)
    bad_name = struct.pack("<III", 8, 999, 0)
    ext = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(bad_name), len(bad_name), 0) + bad_name
    with pytest.raises(ObjectFormatError, match="string offset 999"):
        BTFExt.parse(ext, btf)
