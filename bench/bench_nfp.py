"""NFP offload benchmark: the kernel JIT's image against our allocator's what-if.

    .venv/bin/python bench/bench_nfp.py

Per example in programs/ (built with clang): whether the nfp check accepts it;
NFP instructions, registers per bank and contexts of the kernel JIT's image
(kernel_jit.py: what the card would run, 4 contexts) and of the what-if
(regalloc.py: 8 contexts where the registers fit; no shipping firmware runs it);
the what-if/kernel instruction ratio; the estimated cycles per packet of each
on the example's capture and the card's rate with the kernel image (card.py, Agilio CX 2x10GbE);
the executor's speed (packets/s of this emulator running the kernel image, next
to the reference VM on the same capture); and nfp-emu's native code (native.py) against
the eBPF jit on the same capture in the same run: port_blocklist's packets repeated to
SPEED_PACKETS, both through their bulk `run_packed`.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
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


SPEED_PACKETS = 300_000


def speed_figures(obj) -> dict:
    """nfp-emu (native), nfp-emu (interpreted, fewer packets) and jit packets/s, same packets."""
    from array import array

    from xdptool.nfp.engine import NfpEngine
    from xdptool.runtime.jit import JitEngine
    from xdptool.runtime.maps import MapStore

    program = obj.program()
    packets = [p for p in capture_packets("port_blocklist") if len(p) >= 14]
    buffer, offsets, lengths = bytearray(), array("Q"), array("I")
    for k in range(SPEED_PACKETS):
        packet = packets[k % len(packets)]
        offsets.append(len(buffer))
        lengths.append(len(packet))
        buffer += packet

    def rate(engine, count):
        engine.run_packed(buffer, offsets[:64], lengths[:64])  # compiled (or from the cache) and warm
        best = 0.0
        for _ in range(3):
            start = time.perf_counter()
            engine.run_packed(buffer, offsets[:count], lengths[:count])
            best = max(best, count / (time.perf_counter() - start))
        return best

    jit = rate(JitEngine(program, MapStore.for_object(obj)), SPEED_PACKETS)
    fast = rate(NfpEngine(program, MapStore.for_object(obj)), SPEED_PACKETS)
    slow = rate(NfpEngine(program, MapStore.for_object(obj), native=False), 2000)
    print(f"port_blocklist x {SPEED_PACKETS}: nfp-emu native {fast:,.0f} packets/s, jit {jit:,.0f}, "
          f"nfp-emu / jit = {fast / jit:.2f} (goal >= 0.25); nfp-emu interpreted {slow:,.0f} "
          f"(native / interpreted = {fast / slow:.0f}x)")
    return {"nfp_emu_native_pps": round(fast), "jit_pps": round(jit), "nfp_emu_over_jit": round(fast / jit, 3),
            "nfp_emu_interpreted_pps": round(slow), "nfp_native_over_interpreted": round(fast / slow, 1)}


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
    rows, ratios, eight = [], [], 0
    print(f"{'program':18} {'ok':3} {'kernel':>6} {'what-if':>7} {'ratio':>5} {'regs A/B':>8} {'w-i A/B':>8} "
          f"{'ctx':>3} {'w-i':>3} {'cyc/pkt':>7} {'w-i cyc':>7} {'Mpps':>6} {'bound':>10} {'emu pps':>8} {'vm pps':>8}")
    for source in sorted((ROOT / "programs").glob("*.c")):
        name = source.stem
        obj = load_object(toolchain.build(source, out / f"{name}.o").output)
        program = obj.program()
        report = offload(program, estimate=False)
        if not report.offloaded:
            print(f"{name:18} no  {report.reasons[0].message}")
            rows.append({"program": name, "offloaded": False, "reason": report.reasons[0].message})
            continue
        kernel, what_if = report.kernel, report.what_if
        packets = capture_packets(name)
        timings = {}
        for image in (kernel, what_if):
            if image is not None:
                engine = NfpEngine(program, MapStore.for_object(obj), report=replace(report, image=image))
                engine.run_batch(packets)
                timings[image.allocator] = engine.estimate()
        emu_pps = packets_per_second(NfpEngine(program, MapStore.for_object(obj), report=report, native=False),
                                     packets)
        vm_pps = packets_per_second(VmEngine(program, MapStore.for_object(obj)), packets)
        ratio = len(what_if.insns) / len(kernel.insns) if what_if else None
        if ratio is not None:
            ratios.append(ratio)
            eight += what_if.contexts == 8
        regs = kernel.stats["registers"]
        w_regs = what_if.stats["registers"] if what_if else {"A": 0, "B": 0}
        k_t, w_t = timings["kernel"], timings.get("xdptool") or {}
        print(f"{name:18} yes {len(kernel.insns):6} {len(what_if.insns) if what_if else '-':>7} "
              f"{ratio if ratio is None else round(ratio, 2):>5} {regs['A']:>3}/{regs['B']:<4} "
              f"{w_regs['A']:>3}/{w_regs['B']:<4} {kernel.contexts:3} {what_if.contexts if what_if else '-':>3} "
              f"{k_t['cycles_per_packet']:7} {w_t.get('cycles_per_packet', '-'):>7} {k_t['mpps']:6} "
              f"{k_t['bottleneck']:>10} {emu_pps:8.0f} {vm_pps:8.0f}")
        rows.append({"program": name, "offloaded": True, "kernel_instructions": len(kernel.insns),
                     "what_if_instructions": len(what_if.insns) if what_if else None,
                     "what_if_over_kernel": round(ratio, 3) if ratio is not None else None,
                     "kernel_registers": regs, "what_if_registers": w_regs, "kernel_contexts": kernel.contexts,
                     "what_if_contexts": what_if.contexts if what_if else None,
                     "kernel_cycles_per_packet": k_t["cycles_per_packet"],
                     "what_if_cycles_per_packet": w_t.get("cycles_per_packet"), "card_mpps": k_t["mpps"], "bottleneck": k_t["bottleneck"],
                     "emulator_pps": round(emu_pps), "vm_pps": round(vm_pps)})
    count = len(ratios)
    mean_ratio = sum(ratios) / count if count else 0.0
    share8 = eight / count if count else 0.0
    print(f"offloadable {count}; what-if / kernel-image instructions: mean {mean_ratio:.2f} "
          f"(range {min(ratios, default=0):.2f}-{max(ratios, default=0):.2f}); what-if at 8 contexts for "
          f"{100 * share8:.0f} % (the kernel image: 4, the shipping firmware's)")
    speed = speed_figures(load_object(toolchain.build(ROOT / "programs" / "port_blocklist.c",
                                                      out / "speed.o").output))
    figures = {"offloadable": count, **speed, "mean_what_if_over_kernel_instructions": round(mean_ratio, 3),
               "what_if_share_8_contexts": round(share8, 3), "programs": rows}
    print("RESULT " + json.dumps({"figures": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
