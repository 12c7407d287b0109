"""NFP offload benchmark: the register allocator against the kernel JIT's fixed mapping.

    .venv/bin/python bench/bench_nfp.py

Per example in programs/ (built with clang): whether the nfp check accepts it;
NFP instructions and registers per bank with the allocator and with the
baseline mapping (eBPF Rn -> GPR 2n/2n+1 in both banks, as bpf/jit.c); the
contexts each reaches; the estimated cycles per packet on its capture
(timing.py) and the card's rate against 10/25 GbE line rate; the executor's
speed (packets/s of this emulator, next to the reference VM on the same capture).
Targets from the brief: >= 20 % fewer NFP instructions than the baseline on
average; 8 contexts for >= 80 % of the offloadable examples.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def capture_packets(name: str) -> list[bytes]:
    from xdptool.replay.pcap import read_capture

    path = ROOT / "programs" / f"{name}.pcap"
    if not path.exists():
        return []
    capture = read_capture(path)
    return [bytes(capture.data(i)) for i in range(len(capture))]


def packets_per_second(engine, packets: list[bytes], repeat: int = 20) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        engine.run_batch(packets)
    return repeat * len(packets) / (time.perf_counter() - start)


def main() -> int:
    if shutil.which("clang") is None:
        print('RESULT {"skipped": "clang is not installed"}')
        return 0
    from xdptool import toolchain
    from xdptool.elf import load_object
    from xdptool.nfp.engine import NfpEngine
    from xdptool.nfp.offload import offload
    from xdptool.runtime.maps import MapStore
    from xdptool.runtime.vm import VmEngine

    out = Path(tempfile.mkdtemp(prefix="bench-nfp-"))
    rows, savings, eight = [], [], 0
    print(f"{'program':18} {'ok':3} {'nfp':>5} {'base':>5} {'gain':>5} {'regs A/B':>8} {'base A/B':>8} "
          f"{'ctx':>3} {'cyc/pkt':>7} {'Mpps':>6} {'10G':>4} {'emu pps':>8} {'vm pps':>8}")
    for source in sorted((ROOT / "programs").glob("*.c")):
        name = source.stem
        obj = load_object(toolchain.build(source, out / f"{name}.o").output)
        program = obj.program()
        report = offload(program, estimate=False)
        if not report.offloaded:
            print(f"{name:18} no  {report.reasons[0].message}")
            rows.append({"program": name, "offloaded": False, "reason": report.reasons[0].message})
            continue
        image, base = report.image, report.baseline
        packets = capture_packets(name)
        engine = NfpEngine(program, MapStore.for_object(obj), report=report)
        engine.run_batch(packets)
        timing = engine.timing()
        emu_pps = packets_per_second(NfpEngine(program, MapStore.for_object(obj), report=report), packets)
        vm_pps = packets_per_second(VmEngine(program, MapStore.for_object(obj)), packets)
        gain = 1 - len(image.insns) / len(base.insns)
        savings.append(gain)
        eight += image.contexts == 8
        regs, base_regs = image.stats["registers"], base.stats["registers"]
        print(f"{name:18} yes {len(image.insns):5} {len(base.insns):5} {100 * gain:4.0f}% "
              f"{regs['A']:>3}/{regs['B']:<4} {base_regs['A']:>3}/{base_regs['B']:<4} {image.contexts:3} "
              f"{timing['cycles_per_packet']:7} {timing['card_mpps']:6} "
              f"{'yes' if timing['line_rate']['10GbE']['reached'] else 'no':>4} {emu_pps:8.0f} {vm_pps:8.0f}")
        rows.append({"program": name, "offloaded": True, "nfp_instructions": len(image.insns),
                     "baseline_instructions": len(base.insns), "registers": regs, "baseline_registers": base_regs,
                     "contexts": image.contexts, "baseline_contexts": base.contexts, "spills": image.spill_slots,
                     "cycles_per_packet": timing["cycles_per_packet"], "card_mpps": timing["card_mpps"],
                     "emulator_pps": round(emu_pps), "vm_pps": round(vm_pps)})
    offloadable = len(savings)
    mean_gain = sum(savings) / offloadable if offloadable else 0.0
    share8 = eight / offloadable if offloadable else 0.0
    print(f"offloadable {offloadable}; mean instruction saving vs baseline {100 * mean_gain:.1f} % (target >= 20 %); "
          f"8 contexts for {100 * share8:.0f} % (target >= 80 %)")
    figures = {"offloadable": offloadable, "mean_saving_vs_baseline": round(mean_gain, 3),
               "share_8_contexts": round(share8, 3), "programs": rows}
    print("RESULT " + json.dumps({"figures": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
