"""The `jit` engine: eBPF compiled to native code through LLVM (llvmlite), with
results identical to the reference interpreter (xdptool.runtime.vm).

    engine = JitEngine(program, maps, config=None)     # Engine protocol (contract.py)
    engine.run(packet, ctx=None)          -> RunResult
    engine.run_batch(packets, ctx=None)   -> list[RunResult]   (native packet loop)
    engine.run_packed(buffer, offsets, lengths, ctx=None) -> PackedResults

`run_packed` is the bulk API for replay: packets back to back in one buffer
(bytes/bytearray/memoryview; offsets and lengths as integer sequences,
`array('Q')`/`array('I')` used without copying, e.g. straight from
`replay.pcap.Capture`), results as flat arrays — `retvals` array('I'),
`fault_codes` array('B'), `insns` array('Q'), output packets in `out` at
`out_offsets`/`out_lengths` (or UNCHANGED: the input packet) — plus sparse
dicts for faults, redirects, trace_printk and events, and `verdict(i)`,
`packet(i)`, `changed(i)`, `result(i)`, `verdict_counts()`.  No Python object
is built per packet unless the packet faults or calls a Python helper.

How (one module per idea): backend.py (LLVM once per process, MCJIT),
translate.py + alu.py (eBPF -> IR), memory.py (checked access over the
interpreter's tagged address space), helpers.py (helper calls: native or a
ctypes callback into the runtime's Python helpers), natives.py + maps.py
(native helpers: map lookup/update/delete on array/percpu_array/hash/percpu_hash/
lru hashes/devmap_hash, sparse-array lookups, adjust_head/meta/tail, csum_diff,
xdp_load/store_bytes, redirect and redirect_map, ktime, prandom, cpu id,
jiffies, buff_len), control.py (tail calls and bpf_loop callbacks as branches
in the one function), cache.py (object code kept on disk between runs),
batch.py (the packet loop in IR), compiler.py (one module per program, cached
on the Program), env.py (the shared run environment), regions.py + mirror.py
(the native region table kept equal to the interpreter's), engine.py (the
engine, with a shadow interpreter as the source of truth for regions, Python
helpers and fault wording), packed.py (the bulk results).

A program that makes tail calls is compiled with every program of its object
(one unit each).  Helpers without a native path still run as Python;
`engine.helper_fallbacks()` counts those calls per helper.  Programs over
MAX_JIT_SLOTS instructions run on the interpreter inside this engine
(`engine.interpreted`, one line on stderr), with the same API.
"""

__all__ = ["JitEngine", "PackedResults", "run_raw"]
_HOMES = {"JitEngine": "engine", "run_raw": "engine", "PackedResults": "packed"}


def __getattr__(name: str):
    """The package's names, imported on first use: a submodule (backend, cache) can be
    used without loading the engine and its code generator."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_HOMES[name]}", __name__), name)
