"""The persistent compile cache, memory bounded by what a program touches, and programs
too large for the jit.

Cache: a second engine for the same program in a new process state loads the object
code instead of compiling (CompiledProgram.from_cache), gives the same results, is
off with XDPTOOL_NO_CACHE, and a damaged entry is ignored and rebuilt.  A warm
process loads the entry's shared object and never imports llvmlite's LLVM binding;
without a linker, or where the shared object cannot be loaded, MCJIT runs the
entry's object code instead, with the same results.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from test_jit_diff import observable, program
from xdptool.elf.model import MapDef, MapType, Reloc, RelocKind
from xdptool.runtime.jit import JitEngine, backend, cache, engine as jit_engine
from xdptool.runtime.jit.translate import needs_budget_checks
from xdptool.runtime.maps import MapStore
from xdptool.ebpf.asm import assemble

TEXT = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r3 -= r2
    r0 = r3
    r0 &= 3
    exit"""
PACKETS = [bytes(n) for n in (14, 15, 60, 61)]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDPTOOL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("XDPTOOL_NO_CACHE", raising=False)
    return tmp_path / "cache"


def results_and_source():
    prog = program(TEXT)  # a new Program: nothing cached in memory
    engine = JitEngine(prog, MapStore({}))
    return [observable(engine.run(p)) for p in PACKETS], engine.native.from_cache


def test_second_compile_comes_from_the_cache(cache_dir):
    first, cached = results_and_source()
    assert not cached
    entries = list(cache_dir.glob("jit/*/*"))
    assert len(entries) == 1
    second, cached = results_and_source()
    assert cached and second == first
    assert [r[1] for r in first] == [2, 3, 0, 1]  # data_end - data, & 3


def test_no_cache_leaves_nothing_behind(cache_dir, monkeypatch):
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    results_and_source()
    assert not cache_dir.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_damaged_entry_is_ignored_and_rebuilt(cache_dir, damage):
    first, _ = results_and_source()
    [entry] = cache_dir.glob("jit/*/*")
    raw = entry.read_bytes()
    entry.write_bytes({"truncate": raw[: len(raw) // 2], "flip": raw[:-10] + bytes(10), "empty": b""}[damage])
    again, cached = results_and_source()
    assert not cached and again == first
    assert entry.read_bytes() == raw  # rebuilt: the same code again


def test_entries_hold_a_shared_object_and_a_warm_process_loads_no_llvm(cache_dir):
    """A fresh process finds the entry, runs the shared object, and never imports
    llvmlite.binding (its LLVM costs ~40 ms of every start-up)."""
    first, _ = results_and_source()
    [entry] = cache_dir.glob("jit/*/*")
    loaded = cache.load_entry(entry.name)
    assert loaded.shared[:4] == b"\x7fELF" and loaded.code[:4] == b"\x7fELF"
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_jit_cache import results_and_source
results, cached = results_and_source()
print(cached, "llvmlite.binding" in sys.modules, repr(results))
"""
    # the first process records the LLVM facts beside the entries (this one's are cached in memory)
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
            for _ in range(2)]
    cached, binding, results = runs[1].stdout.strip().split(" ", 2)
    assert (cached, binding) == ("True", "False")
    assert results == repr(first)
    assert not list(cache_dir.glob("jit/.loading/*"))  # the private copies are unlinked once mapped


@pytest.mark.parametrize("missing", ["linker", "dlopen"])
def test_without_a_shared_object_mcjit_runs_the_object_code(cache_dir, monkeypatch, missing):
    first, _ = results_and_source()
    if missing == "linker":  # the entry is rebuilt without its shared object
        monkeypatch.setattr(backend, "linker", lambda: None)
        [entry] = cache_dir.glob("jit/*/*")
        entry.unlink()
        again, cached = results_and_source()
        assert not cached and again == first
        assert cache.load_entry(entry.name).shared == b""
    else:  # a cache folder on a noexec mount: dlopen refuses the shared object
        monkeypatch.setattr(backend, "load_shared", lambda image, folder: None)
    again, cached = results_and_source()
    assert cached and again == first


def test_key_covers_instructions_maps_and_budget_checks():
    a, b = assemble(TEXT), assemble(TEXT.replace("&= 3", "&= 1"))
    from xdptool.runtime.jit.translate import Unit

    keys = {cache.key_for([Unit(0, "p", a)], (), None, False, "p"),
            cache.key_for([Unit(0, "p", b)], (), None, False, "p"),
            cache.key_for([Unit(0, "p", a)], (), None, True, "p"),
            cache.key_for([Unit(0, "p", a)], (), {0: 0}, False, "p")}
    assert len(keys) == 4


def test_budget_checks_only_for_real_cycles():
    forward = assemble("""
        r0 = 0
        if r1 > 5 goto +1
        r0 = 1
        exit""")
    # clang-style backward jump that is no loop: a shared tail placed before its users
    shared_tail = assemble("""
        goto +2
        r0 = 7
        exit
        if r1 > 5 goto -3
        r0 = 1
        exit""")
    loop = assemble("""
        r0 = 0
        r0 += 1
        if r0 < 10 goto -2
        exit""")
    assert not needs_budget_checks(forward, 1_000_000)
    assert not needs_budget_checks(shared_tail, 1_000_000)
    assert needs_budget_checks(loop, 1_000_000)
    assert needs_budget_checks(forward, 3)  # the longest path is over the budget


def test_forward_only_programs_decided_without_the_walk():
    """A program whose jumps all go forward is decided from its length (every warm start
    computes this): the same answer as the longest-path walk, at the budgets around it."""
    from xdptool.runtime.jit.units import worst_case_insns

    forward = assemble("""
        r0 = 0
        if r1 > 5 goto +1
        r0 = 1
        if r1 > 9 goto +4""")  # both ways out leave the program: a faulting slot the walk counts as one
    worst = worst_case_insns(forward, 1_000)
    assert worst == len(forward) + 1
    for budget in range(1, len(forward) + 4):
        assert needs_budget_checks(forward, budget) == (worst > budget), budget


# -- memory bounded by what the program touches -----------------------------------------------

LOOKUP = """
    r6 = r1
    r1 = 0 ll
    *(u32 *)(r10 - 4) = 99999999
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto +2
    r1 = 7
    *(u64 *)(r0 + 0) = r1
    r0 = 2
    exit"""


def test_a_huge_array_costs_only_what_is_touched():
    """100M entries of 8 bytes: the map and the jit's region-id table are lazily zeroed
    memory, so creating them and running a packet allocates almost nothing."""
    insns = assemble(LOOKUP)
    next(i for i in insns if i.is_ld_imm64).reloc = Reloc(RelocKind.MAP, "big", map="big")
    prog = program(insns)
    tracemalloc.start()
    try:
        store = MapStore({"big": MapDef("big", MapType.ARRAY, 4, 8, 100_000_000)})
        engine = JitEngine(prog, store)
        result = engine.run(bytes(64))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.verdict == "XDP_PASS"
    assert store["big"].lookup((99_999_999).to_bytes(4, "little")) == (7).to_bytes(8, "little")
    assert peak < 64 << 20, f"{peak >> 20} MiB traced"
    status = Path("/proc/self/status")
    if status.exists():  # resident memory: far below the map's 800 MB
        rss = next(int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmRSS"))
        assert rss < 600 * 1024, f"VmRSS {rss} kB"


def test_programs_too_large_for_the_jit_run_on_the_vm(monkeypatch, capsys):
    monkeypatch.setattr(jit_engine, "MAX_JIT_SLOTS", 50)
    prog = program("\n".join(["r0 += 1"] * 60 + ["exit"]))
    engine = JitEngine(prog, MapStore({}))
    assert engine.interpreted
    assert engine.run(bytes(14)).retval == 60
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "more than 50 instructions" in err and "vm engine" in err


def test_environment_digest_is_remembered_under_the_sources_identities(cache_dir, tmp_path, monkeypatch):
    """The generator sources' digest is kept in the cache under their (path, size, mtime):
    found there while they are unchanged (the kept one is what is returned), computed again
    from their bytes as soon as one changes."""
    import hashlib
    import os

    from xdptool import __version__

    sources = [tmp_path / "a.py", tmp_path / "b.py"]
    for n, path in enumerate(sources):
        path.write_text(f"x = {n}\n")
    monkeypatch.setattr(cache, "_generator_files",  # as it gives them: looked up at every start
                        lambda: [(str(p), (st := p.stat()).st_size, st.st_mtime_ns) for p in sources])

    def fresh() -> str:
        digest = hashlib.sha256(repr((__version__, *cache.llvm_facts())).encode())
        for path in sources:
            digest.update(path.name.encode() + path.read_bytes())
        return digest.hexdigest()

    cache.environment_digest.cache_clear()
    first = cache.environment_digest()
    assert first == fresh()
    [memo] = cache_dir.glob("jit/env-*.txt")
    memo.write_text("0" * 64)  # what a later process finds is what it uses
    cache.environment_digest.cache_clear()
    assert cache.environment_digest() == "0" * 64
    stat = sources[1].stat()
    sources[1].write_text("x = 2\n")  # same size, new bytes and modification time
    os.utime(sources[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    cache.environment_digest.cache_clear()
    try:
        assert cache.environment_digest() == fresh() != first
    finally:
        cache.environment_digest.cache_clear()  # the other tests' keys come from the real sources
