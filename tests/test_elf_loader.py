"""The ELF loader on objects clang builds from tests/data/elf/*.c.

Expected values come from the C sources (initialisers, map declarations, marked
lines), from uapi/linux/bpf.h, and from llvm-objdump / llvm-nm / llvm-objcopy run on
the same objects — never from the loader itself.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from xdptool.ebpf.insn import encode
from xdptool.ebpf.opcodes import PseudoSrc
from xdptool.elf import load_object
from xdptool.elf.btf import Kind
from xdptool.elf.model import MapType, ProgType, RelocKind
from xdptool.elf.sections import AttachType, section_def

DATA = Path(__file__).resolve().parent / "data" / "elf"
CFLAGS = ["-O2", "-g", "-I/usr/include/x86_64-linux-gnu", "-c"]
UAPI_BPF = Path("/usr/include/linux/bpf.h")


@functools.cache
def compiled(name: str, target: str = "bpf") -> Path:
    """tests/data/elf/<name>.c compiled once per session by clang."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    out = Path(tempfile.mkdtemp(prefix="xdptool-elf-")) / f"{name}.{target}.o"
    subprocess.run(["clang", "-target", target, *CFLAGS, str(DATA / f"{name}.c"), "-o", str(out)], check=True)
    return out


def tool(*args: str) -> str:
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} is not installed")
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


@functools.cache
def uapi_enum(enum_name: str, prefix: str) -> dict[str, int]:
    """Values of a sequential uapi enum, read from the installed linux/bpf.h."""
    text = UAPI_BPF.read_text()
    body = re.search(r"enum %s \{(.*?)\n\};" % enum_name, text, re.S).group(1)
    values, next_value = {}, 0
    for name, value in re.findall(r"^\s*(%s\w+)\s*(?:=\s*(\d+))?," % prefix, body, re.M):
        next_value = int(value) if value else next_value
        values[name[len(prefix):]] = next_value
        next_value += 1
    return values


def nm_offsets(path: Path) -> dict[str, int]:
    return {parts[2]: int(parts[0], 16) for line in tool("llvm-nm", str(path)).splitlines() if len(parts := line.split()) == 3}


def marked_line(tag: str, source: str = "multi.c") -> int:
    for number, text in enumerate((DATA / source).read_text().splitlines(), 1):
        if f"LINE:{tag} " in text:
            return number
    raise AssertionError(tag)


@pytest.fixture(scope="module")
def multi():
    return load_object(compiled("multi"))


@pytest.fixture(scope="module")
def legacy():
    return load_object(compiled("legacy"))


# -- programs ----------------------------------------------------------------------


def test_programs_sections_and_types(multi):
    attach = uapi_enum("bpf_attach_type", "BPF_")
    got = {p.name: (p.section, p.type, p.type_name, p.attach_type, p.frags) for p in multi.programs}
    assert got == {
        "tail_target": ("xdp/devmap", ProgType.XDP, "xdp", attach["XDP_DEVMAP"], False),
        "xdp_main": ("xdp", ProgType.XDP, "xdp", attach["XDP"], False),
        "xdp_second": ("xdp", ProgType.XDP, "xdp", attach["XDP"], False),
        "xdp_frag": ("xdp.frags", ProgType.XDP, "xdp", attach["XDP"], True),
        "tc_prog": ("tc", ProgType.SCHED_CLS, "tc", 0, False),
        "probe": ("kprobe/do_sys_open", ProgType.KPROBE, "kprobe", 0, False),
        "unknown_prog": ("weird_section_name", ProgType.XDP, "xdp", 0, False),  # as iproute2 loads it for XDP
    }
    assert all(p.license == "Dual BSD/GPL" for p in multi.programs)
    assert multi.program("xdp_frag").section == "xdp.frags"


def test_enums_match_uapi_header():
    attach = uapi_enum("bpf_attach_type", "BPF_")
    assert {a.name: a.value for a in AttachType if a.name in attach} == {k: v for k, v in attach.items() if not k.startswith("_")}
    prog_types = uapi_enum("bpf_prog_type", "BPF_PROG_TYPE_")
    assert {t.name: t.value for t in ProgType if t.name in prog_types} == {
        k: v for k, v in prog_types.items() if k in ProgType.__members__
    }
    map_types = uapi_enum("bpf_map_type", "BPF_MAP_TYPE_")
    for name, value in map_types.items():
        if name in MapType.__members__:
            assert MapType[name] == value, name


@pytest.mark.parametrize(
    "name, prog_type, attach, frags",
    [
        ("xdp", ProgType.XDP, AttachType.XDP, False),
        ("xdp.frags", ProgType.XDP, AttachType.XDP, True),
        ("xdp/devmap", ProgType.XDP, AttachType.XDP_DEVMAP, False),
        ("xdp.frags/devmap", ProgType.XDP, AttachType.XDP_DEVMAP, True),
        ("xdp/cpumap", ProgType.XDP, AttachType.XDP_CPUMAP, False),
        ("xdp.frags/cpumap", ProgType.XDP, AttachType.XDP_CPUMAP, True),
        ("xdp_prog", ProgType.UNSPEC, 0, False),  # libbpf 1.x: no prefix matching
        ("tc", ProgType.SCHED_CLS, 0, False),
        ("tcx/ingress", ProgType.SCHED_CLS, AttachType.TCX_INGRESS, False),
        ("classifier", ProgType.SCHED_CLS, 0, False),
        ("socket", ProgType.SOCKET_FILTER, 0, False),
        ("kprobe/do_sys_open", ProgType.KPROBE, 0, False),
        ("kprobe", ProgType.KPROBE, 0, False),
        ("kprobex", ProgType.UNSPEC, 0, False),
        ("kretprobe/x", ProgType.KPROBE, 0, False),
        ("tracepoint/syscalls/sys_enter_open", ProgType.TRACEPOINT, 0, False),
        ("tp/sched/sched_switch", ProgType.TRACEPOINT, 0, False),
        ("raw_tracepoint/sched_switch", ProgType.RAW_TRACEPOINT, 0, False),
        ("fentry/do_unlinkat", ProgType.TRACING, AttachType.TRACE_FENTRY, False),
        ("cgroup_skb/ingress", ProgType.CGROUP_SKB, AttachType.CGROUP_INET_INGRESS, False),
        ("sk_skb", ProgType.SK_SKB, 0, False),
        ("sk_skb/stream_parser", ProgType.SK_SKB, AttachType.SK_SKB_STREAM_PARSER, False),
        ("sk_msg", ProgType.SK_MSG, AttachType.SK_MSG_VERDICT, False),
        ("lsm/file_open", ProgType.LSM, AttachType.LSM_MAC, False),
        ("struct_ops/foo", ProgType.STRUCT_OPS, 0, False),
        ("syscall", ProgType.SYSCALL, 0, False),
        ("perf_event", ProgType.PERF_EVENT, 0, False),
        ("lwt_xmit", ProgType.LWT_XMIT, 0, False),
        ("flow_dissector", ProgType.FLOW_DISSECTOR, AttachType.FLOW_DISSECTOR, False),
        ("sk_lookup", ProgType.SK_LOOKUP, AttachType.SK_LOOKUP, False),
        ("netfilter", ProgType.NETFILTER, AttachType.NETFILTER, False),
    ],
)
def test_section_table(name, prog_type, attach, frags):
    definition = section_def(name)
    assert (definition.prog_type, definition.attach_type, definition.frags) == (prog_type, attach, frags)


def objdump_functions(path: Path) -> dict[tuple[str, str], list[bytes]]:
    """(section, function) -> instruction bytes per logical instruction, from llvm-objdump."""
    functions: dict[tuple[str, str], list[bytes]] = {}
    section = current = None
    for line in tool("llvm-objdump", "-d", str(path)).splitlines():
        if m := re.match(r"Disassembly of section (.*):", line):
            section = m.group(1)
        elif m := re.match(r"[0-9a-f]+ <(\w+)>:", line):
            if not m.group(1).startswith("LBB"):
                current = functions.setdefault((section, m.group(1)), [])
        elif m := re.match(r"\s+\d+:\s+([0-9a-f]{2}(?: [0-9a-f]{2})*)", line):
            current.append(bytes.fromhex(m.group(1)))
    return functions


def test_subprograms_are_copies_of_the_callees(multi):
    functions = objdump_functions(compiled("multi"))
    expected_layout = {
        "xdp_main": ["xdp_main", "middle", "leaf"],
        "xdp_second": ["xdp_second", "loop_cb", "other", "leaf", "middle"],  # depth-first, as libbpf
        "probe": ["probe", "leaf"],
        "tc_prog": ["tc_prog"],
    }
    for name, layout in expected_layout.items():
        prog = multi.program(name)
        assert [s.name for s in prog.subprograms] == layout  # shared callees appended once
        for sub in prog.subprograms:
            section = prog.section if sub.name == name else ".text"
            original = functions[(section, sub.name)]
            copy = [i for i in prog.insns if sub.start <= i.pc < sub.end]
            assert len(copy) == len(original)
            for insn, raw in zip(copy, original):
                if insn.reloc is not None and insn.reloc.kind in (RelocKind.CALL, RelocKind.FUNC):
                    assert insn.encode()[:1] == raw[:1]  # same opcode, immediate re-pointed
                else:
                    assert insn.encode() == raw


def test_local_calls_enter_the_named_subprogram(multi):
    for prog in multi.programs:
        starts = {s.start: s.name for s in prog.subprograms}
        assert prog.subprograms[0].start == 0
        assert [i.pc for i in prog.insns] == sorted(i.pc for i in prog.insns)
        assert prog.subprograms[-1].end == prog.slot_count
        for insn in prog.insns:
            if insn.is_local_call:
                assert starts[insn.target] == insn.reloc.symbol
                assert insn.reloc.offset == insn.target


def test_bpf_loop_callback_is_a_pseudo_func(multi):
    prog = multi.program("xdp_second")
    funcs = [i for i in prog.insns if i.is_ld_imm64 and i.src == PseudoSrc.FUNC]
    assert len(funcs) == 1
    callback = prog.subprograms[[s.name for s in prog.subprograms].index("loop_cb")]
    assert funcs[0].pc + 1 + funcs[0].imm == callback.start
    assert (funcs[0].reloc.kind, funcs[0].reloc.offset) == (RelocKind.FUNC, callback.start)
    assert funcs[0].line.line == marked_line("bpf_loop")


def test_programs_never_share_instructions(multi):
    seen: set[int] = {id(i) for s in multi.code_sections for i in s.insns}
    total = len(seen)
    for prog in multi.programs:
        seen |= {id(i) for i in prog.insns}
        total += len(prog.insns)
    assert len(seen) == total


def test_func_info_marks_every_subprogram(multi):
    for prog in multi.programs:
        assert [pc for pc, _ in prog.func_info] == [s.start for s in prog.subprograms]
        for (pc, type_id), sub in zip(prog.func_info, prog.subprograms):
            func = multi.btf.types[type_id]
            assert (func.kind, func.name) == (Kind.FUNC, sub.name)


# -- code sections, relocations, lines ---------------------------------------------------


def test_code_sections_round_trip_and_match_the_file(multi, tmp_path):
    path = compiled("multi")
    for section in multi.code_sections:
        dump = tmp_path / "section.bin"
        tool("llvm-objcopy", f"--dump-section={section.name}={dump}", str(path), str(tmp_path / "out.o"))
        assert section.data == dump.read_bytes()
        assert encode(section.insns) == section.data


def test_code_section_symbols_include_labels(multi):
    nm = nm_offsets(compiled("multi"))
    xdp = next(s for s in multi.code_sections if s.name == "xdp")
    names = [s.name for s in xdp.symbols]
    assert {"xdp_main", "xdp_second", "LBB1_2", "LBB1_4", "LBB3_2"} <= set(names)
    assert [s.value for s in xdp.symbols] == sorted(s.value for s in xdp.symbols)
    assert all(s.value == nm[s.name] for s in xdp.symbols)


@pytest.mark.parametrize("fixture", ["multi", "legacy"])
def test_relocations_match_objdump(fixture, request):
    obj = request.getfixturevalue(fixture)
    expected: dict[str, set[tuple[int, str]]] = {}
    section = None
    for line in tool("llvm-objdump", "-r", str(compiled(fixture))).splitlines():
        if m := re.match(r"RELOCATION RECORDS FOR \[(.*)\]:", line):
            section = expected.setdefault(m.group(1), set())
        elif m := re.match(r"([0-9a-f]{16}) R_BPF\w+\s+(\S+)", line):
            section.add((int(m.group(1), 16), m.group(2)))
    for code in obj.code_sections:
        got = {(i.pc * 8, i.reloc.symbol) for i in code.insns if i.reloc is not None}
        assert got == expected.get(code.name, set()), code.name


def test_map_and_global_data_relocations(multi):
    nm = nm_offsets(compiled("multi"))
    refs = {}
    for insn in multi.program("xdp_main").insns:
        if insn.reloc is not None and insn.reloc.kind in (RelocKind.MAP, RelocKind.MAP_VALUE):
            refs[insn.reloc.symbol] = (insn.reloc.kind, insn.reloc.map, insn.reloc.offset)
    assert refs == {
        "counters": (RelocKind.MAP, "counters", 0),
        "hits": (RelocKind.MAP_VALUE, ".data", nm["hits"]),
        "table": (RelocKind.MAP_VALUE, ".data", nm["table"]),
        "limit": (RelocKind.MAP_VALUE, ".rodata", nm["limit"]),
        "dropped": (RelocKind.MAP_VALUE, ".bss", nm["dropped"]),
    }
    assert multi.program("xdp_frag").referenced_maps() == ["outer", "jumps", "ports"]


def test_static_data_relocations_use_the_section_symbol(legacy):
    nm = nm_offsets(compiled("legacy"))
    values = [i.reloc for i in legacy.program("legacy_prog").insns if i.reloc and i.reloc.kind is RelocKind.MAP_VALUE]
    got = {(r.symbol, r.map, r.offset) for r in values}
    assert got == {(".data", ".data", nm["static_counter"]), (".data", ".data", nm["second_static"]),
                   (".rodata", ".rodata", nm["fmt"])}  # fmt: skip


def test_kfunc_and_legacy_map_relocations(legacy):
    relocs = [(i.reloc.kind, i.reloc.symbol, i.reloc.map) for i in legacy.program("uses_kfunc").insns if i.reloc]
    assert relocs == [(RelocKind.KFUNC, "bpf_rcu_read_lock", None), (RelocKind.MAP, "legacy_array", "legacy_array")]


def test_line_info_points_at_the_c_source(multi):
    main = multi.program("xdp_main")
    lookup = next(i for i in main.insns if i.is_helper_call and i.imm == 1)  # bpf_map_lookup_elem
    assert lookup.line.line == marked_line("lookup")
    assert "bpf_map_lookup_elem(&counters" in lookup.line.source
    assert lookup.line.file.endswith("multi.c")
    for name, tag in (("leaf", "leaf"), ("middle", "middle")):
        sub = next(s for s in main.subprograms if s.name == name)
        lines = {i.line.line for i in main.insns if sub.start <= i.pc < sub.end}
        assert marked_line(tag) in lines
    second = multi.program("xdp_second")
    loop_cb = next(s for s in second.subprograms if s.name == "loop_cb")
    assert marked_line("loop_cb") in {i.line.line for i in second.insns if loop_cb.start <= i.pc < loop_cb.end}
    for section in multi.code_sections:
        assert all(i.line is not None for i in section.insns), section.name
    assert all(0 <= i.line.col < 1024 for s in multi.code_sections for i in s.insns)


# -- maps ---------------------------------------------------------------------------


def test_btf_maps(multi):
    maps = multi.maps
    got = {name: (m.type, m.key_size, m.value_size, m.max_entries, m.flags) for name, m in maps.items() if m.section == ".maps"}
    assert got == {
        "counters": (MapType.HASH, 4, 8, 128, 1),
        "stats": (MapType.PERCPU_ARRAY, 4, 24, 4, 0),
        "prefixes": (MapType.LPM_TRIE, 8, 4, 16, 1),
        "inner": (MapType.ARRAY, 4, 4, 8, 0),
        "outer": (MapType.ARRAY_OF_MAPS, 4, 4, 2, 0),
        "ports": (MapType.DEVMAP, 4, 4, 8, 0),
        "jumps": (MapType.PROG_ARRAY, 4, 4, 4, 0),
    }
    assert maps["stats"].is_percpu and not maps["counters"].is_percpu
    inner = maps["outer"].inner
    assert (inner.name, inner.type, inner.key_size, inner.value_size, inner.max_entries) == (
        "outer.inner", MapType.ARRAY, 4, 4, 8)  # fmt: skip
    assert maps["outer"].extra["values"] == {1: "inner"}
    assert maps["jumps"].extra["values"] == {2: "tail_target"}
    assert multi.btf.name_of(maps["counters"].btf_value_type_id) == "__u64"


def test_maps_keep_declaration_order(multi):
    nm = nm_offsets(compiled("multi"))
    btf_maps = [n for n, m in multi.maps.items() if m.section == ".maps"]
    assert btf_maps == sorted(btf_maps, key=nm.__getitem__)  # clang emits .maps in layout order
    assert [n for n, m in multi.maps.items() if m.is_global_data] == [".data", ".rodata", ".bss"]


def test_global_data_initial_contents(multi):
    nm = nm_offsets(compiled("multi"))
    data, rodata, bss = multi.maps[".data"], multi.maps[".rodata"], multi.maps[".bss"]
    for m in (data, rodata, bss):
        assert (m.type, m.key_size, m.max_entries, m.value_size) == (MapType.ARRAY, 4, 1, len(m.initial))
    assert int.from_bytes(data.initial[nm["hits"] : nm["hits"] + 4], "little") == 7
    table = data.initial[nm["table"] : nm["table"] + 16]
    assert [int.from_bytes(table[i : i + 4], "little") for i in range(0, 16, 4)] == [1, 2, 3, 4]
    assert int.from_bytes(rodata.initial[nm["limit"] : nm["limit"] + 4], "little") == 1500
    assert rodata.initial[nm["banner"] : nm["banner"] + 6] == b"xdp!\n\0"
    assert bss.initial == bytes(8)
    assert rodata.readonly and not data.readonly and not bss.readonly


def test_legacy_maps_license_version(legacy):
    got = {n: (m.type, m.key_size, m.value_size, m.max_entries, m.flags, m.section) for n, m in legacy.maps.items()}
    assert got["legacy_hash"] == (MapType.HASH, 4, 8, 64, 1, "maps")
    assert got["legacy_array"] == (MapType.ARRAY, 4, 16, 2, 0, "maps")
    assert list(legacy.maps)[:2] == ["legacy_hash", "legacy_array"]
    nm = nm_offsets(compiled("legacy"))
    data = legacy.maps[".data"].initial
    assert int.from_bytes(data[nm["static_counter"] : nm["static_counter"] + 4], "little") == 11
    assert int.from_bytes(data[nm["second_static"] : nm["second_static"] + 4], "little") == 0x22334455
    assert legacy.license == "GPL"
    assert legacy.kern_version == 0x050A00


# -- byte order -----------------------------------------------------------------------


def test_big_endian_object_loads_like_little_endian(multi):
    big = load_object(compiled("multi", "bpfeb"))
    assert [p.name for p in big.programs] == [p.name for p in multi.programs]
    for be, le in zip(big.programs, multi.programs):
        # ld_imm64 constants built from byte arrays differ by byte order; the rest is identical
        same_order = [(b, l) for b, l in zip(be.insns, le.insns) if not (l.is_ld_imm64 and l.reloc is None)]
        assert all(b.encode() == l.encode() for b, l in same_order), be.name
        assert len(be.insns) == len(le.insns)
        assert [s.name for s in be.subprograms] == [s.name for s in le.subprograms]
        assert [i.line.line for i in be.insns] == [i.line.line for i in le.insns]
    for name, m in multi.maps.items():
        b = big.maps[name]
        assert (b.type, b.key_size, b.value_size, b.max_entries, b.flags) == (m.type, m.key_size, m.value_size, m.max_entries, m.flags)
    assert int.from_bytes(big.maps[".rodata"].initial[:4], "big") == 1500


# -- calls without relocations, recursion ---------------------------------------------------


def test_recursive_and_same_section_callees():
    obj = load_object(compiled("calls"))
    prog = obj.program()  # the only program: the static same-section function is not one
    assert [(s.name, s.section) for s in prog.subprograms] == [
        ("calls_prog", "xdp"), ("fib", ".text"), ("same_section", "xdp")]  # fmt: skip
    starts = {s.name: s.start for s in prog.subprograms}
    fib = next(s for s in prog.subprograms if s.name == "fib")
    calls = [(i.pc, i.target) for i in prog.insns if i.is_local_call]
    assert sorted(t for _, t in calls) == sorted([starts["fib"], starts["same_section"], starts["fib"]])
    assert any(fib.start <= pc < fib.end and target == fib.start for pc, target in calls)  # recursion
    assert len(obj.maps[".bss"].initial) == 1 << 16 == obj.maps[".bss"].value_size


def test_section_without_function_symbols_is_one_program(tmp_path):
    stripped = tmp_path / "stripped.o"
    tool("llvm-objcopy", "--strip-symbol=btf_prog", str(compiled("btf_kinds")), str(stripped))
    obj = load_object(stripped)
    prog = obj.program()
    assert (prog.name, prog.section, prog.type) == ("xdp", "xdp", ProgType.XDP)  # legacy libbpf naming
    assert [s.name for s in prog.subprograms] == ["xdp", "global_helper"]
    xdp = next(s for s in obj.code_sections if s.name == "xdp")
    assert prog.subprograms[0].end == len(xdp.data) // 8  # the whole section


def test_arena_map_extra_and_data(tmp_path):
    """An arena: map_extra from __ulong (a one-value enum), the .addr_space.1 globals as its
    initial data at the end of the arena, and their addresses as offsets into it (libbpf
    init_arena_map_data: max_entries pages minus the data rounded up to a page).  Needs a
    clang that places __arena globals in .addr_space.1 (clang 18+)."""
    clang = next((c for c in (f"clang-{v}" for v in range(25, 17, -1)) if shutil.which(c)), None)
    if clang is None:
        pytest.skip("needs clang 18+ (the .addr_space.1 section)")
    obj = tmp_path / "arena.o"
    subprocess.run([clang, "-target", "bpf", *CFLAGS, str(DATA / "arena.c"), "-o", str(obj)], check=True)
    loaded = load_object(obj)
    arena = loaded.maps["arena"]
    assert arena.type == MapType.ARENA and arena.max_entries == 4 and arena.flags == 1 << 10
    assert arena.extra["map_extra"] == (1 << 44) | 0x10000000
    data_off = 4 * 4096 - 4096
    assert arena.extra["arena_data"] == (data_off, bytes([7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0]))
    offsets = nm_offsets(obj)
    relocs = {i.reloc.symbol: i.reloc for i in loaded.program().insns if i.reloc is not None}
    for symbol in ("counter", "table"):
        assert relocs[symbol].kind == RelocKind.MAP_VALUE and relocs[symbol].map == "arena"
        assert relocs[symbol].offset == data_off + offsets[symbol]
