"""JIT micro-benchmark: 1,000,000 packets through a hash-map-lookup program.

programs/port_blocklist.c (a hash map lookup per packet, a per-port drop counter
updated on hits) is built with clang, loaded with its map state, and run
- on the `jit` engine through the bulk API (`run_packed`) over 1M packets made
  by cycling the program's capture, and
- on the reference interpreter (`vm`) over a 10,000-packet sample of the same
  stream, extrapolated,
in the same process, reporting packets/s for both and their ratio, plus the
JIT's compile time.  Prints a `RESULT {json}` line for bench/run.py.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "programs" / "port_blocklist"
PACKETS = 1_000_000
VM_SAMPLE = 10_000


def result(payload: dict) -> None:
    print("RESULT " + json.dumps(payload))


def main() -> int:
    if shutil.which("clang") is None:
        result({"skipped": "clang is not installed"})
        return 0
    from xdptool import toolchain
    from xdptool.elf.loader import load_object
    from xdptool.replay.pcap import read_capture
    from xdptool.runtime.jit import JitEngine
    from xdptool.runtime.maps import MapStore
    from xdptool.runtime.vm import VmEngine

    with tempfile.TemporaryDirectory() as tmp:
        obj = load_object(toolchain.build(PROGRAM.with_suffix(".c"), Path(tmp) / "prog.o").output)
    program = obj.programs[0]
    state = json.loads(PROGRAM.with_name(PROGRAM.name + ".maps.json").read_text())
    capture = read_capture(PROGRAM.with_suffix(".pcap"))
    cycle = len(capture)
    offsets = array("Q", (capture.offsets[i % cycle] for i in range(PACKETS)))
    lengths = array("I", (capture.lengths[i % cycle] for i in range(PACKETS)))

    def store() -> MapStore:
        maps = MapStore.for_object(obj)
        maps.load(state)
        return maps

    started = time.perf_counter()
    jit = JitEngine(program, store())
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    packed = jit.run_packed(capture.buffer, offsets, lengths)
    jit_s = time.perf_counter() - started
    counts = packed.verdict_counts()

    vm = VmEngine(program, store())
    sample = [capture.data(i % cycle) for i in range(VM_SAMPLE)]
    started = time.perf_counter()
    vm_results = vm.run_batch(sample)
    vm_s = time.perf_counter() - started
    agree = all(vm_results[i].verdict == packed.verdict(i) for i in range(VM_SAMPLE))

    jit_pps = PACKETS / jit_s
    vm_pps = VM_SAMPLE / vm_s
    print(f"program: {PROGRAM.name}.c ({len(program.insns)} insns), {PACKETS:,} packets "
          f"(capture of {cycle} cycled), verdicts {dict(counts)}")
    print(f"jit: compile {compile_s * 1e3:.0f} ms, run_packed {jit_s:.3f} s = {jit_pps / 1e6:.2f} Mpps "
          f"({jit_s / PACKETS * 1e9:.0f} ns/packet)")
    print(f"vm:  {VM_SAMPLE:,}-packet sample {vm_s:.3f} s = {vm_pps / 1e3:.1f} kpps "
          f"({vm_s / VM_SAMPLE * 1e6:.2f} us/packet, 1M extrapolated: {PACKETS / vm_pps:.1f} s)")
    print(f"jit/vm speed-up: {jit_pps / vm_pps:.0f}x; verdicts agree on the sample: {agree}")
    result({"figures": {
        "jit_pps": round(jit_pps), "jit_ns_per_packet": round(jit_s / PACKETS * 1e9, 1),
        "jit_compile_ms": round(compile_s * 1e3, 1), "vm_pps": round(vm_pps),
        "speedup_vs_vm": round(jit_pps / vm_pps, 1), "verdicts_agree": agree,
    }})
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
