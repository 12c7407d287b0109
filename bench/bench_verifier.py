"""Verifier benchmark: soundness fuzz at scale and verification time next to the kernel's.

    .venv/bin/python bench/bench_verifier.py [--programs N] [--packets K]

1. N random programs (xdptool.verifier.fuzz): how many the verifier accepts and
   rejects, and how many accepted ones fault in the reference VM (must be 0).
2. Verification time per example in programs/, and for a bounded loop of 10,000
   iterations, next to the kernel's PROG_LOAD time where CAP_BPF is available.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xdptool.elf import load_object  # noqa: E402
from xdptool.verifier import analyze  # noqa: E402
from xdptool.verifier.fuzz import random_packets, random_program  # noqa: E402

LOOP_10K = "r0 = 0\nr1 = 0\nl1: r1 += 1\nr0 += r1\nif r1 < 10000 goto l1\nr0 &= 3\nexit\n"


def fuzz(count: int, packets: int) -> None:
    from xdptool.runtime.vm import VmEngine

    accepted = rejected = faults = 0
    start = time.perf_counter()
    for seed in range(count):
        program = random_program(seed)
        if not analyze(program, collect_facts=False).accepted:
            rejected += 1
            continue
        accepted += 1
        engine = VmEngine(program)
        for packet in random_packets(seed, packets):
            if engine.run(packet).fault is not None:
                faults += 1
                print(f"  FAULT: seed {seed}", flush=True)
                break
    took = time.perf_counter() - start
    print(f"fuzz: {count} programs, accepted {accepted}, rejected {rejected}, faulting accepted programs {faults} "
          f"({took:.1f} s)")


def _kernel_ms(program) -> float | None:
    try:
        from xdptool.kernel import kernel_unavailable_reason, verify_with_kernel

        if kernel_unavailable_reason():
            return None
        return min(verify_with_kernel(program, log_level=0).load_time_ns for _ in range(3)) / 1e6
    except Exception:  # the kernel column is optional
        return None


def _ours_ms(program) -> tuple[float, int]:
    times, processed = [], 0
    for _ in range(3):
        start = time.perf_counter()
        result = analyze(program, collect_facts=False)
        times.append((time.perf_counter() - start) * 1e3)
        processed = result.processed_insns
    return min(times), processed


def timing() -> None:
    from xdptool.ebpf.asm import assemble
    from xdptool.ebpf.insn import renumber
    from xdptool.elf.model import Object, Program, ProgType, Subprogram

    rows = []
    for path in sorted((ROOT / "programs").glob("*.o")):
        rows.append((path.stem, load_object(str(path)).program()))
    insns = renumber(assemble(LOOP_10K))
    loop = Program("loop10k", "xdp", ProgType.XDP, "xdp", insns, [Subprogram("loop10k", 0, insns[-1].pc + 1, "xdp")], "GPL")
    loop.object = Object("loop10k", [loop], {}, "GPL", 0, [])
    rows.append(("bounded loop 10,000 iterations", loop))
    print(f"{'program':34s} {'insns':>8s} {'xdptool ms':>11s} {'kernel ms':>10s} {'ratio':>7s}")
    ratios = []
    for name, program in rows:
        ours, processed = _ours_ms(program)
        kernel = _kernel_ms(program)
        ratio = ours / kernel if kernel else None
        if ratio:
            ratios.append(ratio)
        print(f"{name:34s} {processed:8d} {ours:11.2f} {kernel if kernel else float('nan'):10.3f} "
              f"{(f'{ratio:.1f}x' if ratio else '-'):>7s}")
    if ratios:
        print(f"median ratio xdptool/kernel: {statistics.median(ratios):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--programs", type=int, default=10_000)
    parser.add_argument("--packets", type=int, default=16)
    args = parser.parse_args()
    timing()
    fuzz(args.programs, args.packets)


if __name__ == "__main__":
    main()
