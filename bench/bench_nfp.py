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
SPEED_PACKETS, both through their bulk `run_packed`; native against the interpreted executor
packet for packet (every offloadable example, both allocators' images, its capture and
random packets: how many agree); and the card's datapath on DATAPATH_PACKETS passed
packets with 4 host queues (`xdptool replay --target nfp-emu --queues 4`, a fresh process).
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


def random_packets(seed: int, count: int = 200) -> list[bytes]:
    """Ethernet frames: IPv4 TCP/UDP/other with random addresses and ports, IPv6, random bytes."""
    import random
    import struct

    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        kind, eth = rng.random(), rng.randbytes(12)
        if kind < 0.6:
            l4 = struct.pack("!HH", rng.choice([53, 80, rng.getrandbits(16)]), rng.choice([53, 443, rng.getrandbits(16)]))
            l4 += rng.randbytes(rng.randrange(4, 60))
            packets.append(eth + b"\x08\x00" + struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64,
                                                            rng.choice([6, 17, 1]), 0, rng.randbytes(4),
                                                            rng.randbytes(4)) + l4)
        elif kind < 0.75:
            packets.append(eth + b"\x86\xdd" + struct.pack("!IHBB16s16s", 0x60000000, 8, rng.choice([6, 17]), 64,
                                                            rng.randbytes(16), rng.randbytes(16)) + rng.randbytes(8))
        else:
            packets.append(eth + rng.randbytes(rng.randrange(2, 120)))
    return packets


def agreement_figures(objects: dict) -> dict:
    """Native and interpreted nfp-emu on the same packets, packet for packet: verdict, bytes,
    fault, instructions, selected queue and events, and the maps after every batch."""
    from xdptool.nfp.engine import NfpEngine
    from xdptool.runtime.maps import MapStore
    from xdptool.runtime.target import read_maps_file

    def outcome(r):
        return (r.retval, r.packet, r.insns_executed, r.rx_queue, r.fault and r.fault.message, r.events)

    compared = agreed = images = native_images = 0
    for seed, (name, obj) in enumerate(sorted(objects.items())):
        packets = [p for p in capture_packets(name) if len(p) >= 14] + random_packets(seed)
        for allocator in ("kernel", "xdptool"):
            pair = []
            for use_native in (True, False):
                store = MapStore.for_object(obj)
                maps_file = ROOT / "programs" / f"{name}.maps.json"
                if maps_file.exists():
                    store.load(read_maps_file(str(maps_file)))
                pair.append(NfpEngine(obj.program(), store, native=use_native, allocator=allocator))
            fast, reference = pair
            images += 1
            native_images += fast.native is not None
            for start in range(0, len(packets), 64):
                got, want = fast.run_batch(packets[start:start + 64]), reference.run_batch(packets[start:start + 64])
                same_maps = fast.maps.dump() == reference.maps.dump()
                compared += len(got)
                agreed += sum(outcome(a) == outcome(b) and same_maps for a, b in zip(got, want))
    print(f"native vs executor: {agreed:,} of {compared:,} packets agree ({len(objects)} offloadable examples x "
          f"both allocators, capture + random; {native_images} of {images} images compiled natively)")
    return {"native_executor_packets": compared, "native_executor_agree": agreed, "native_images": native_images,
            "images": images}


DATAPATH_PACKETS = 1_000_000


def datapath_figures(obj_path: Path, out: Path) -> dict:
    """The card's datapath at replay scale: DATAPATH_PACKETS IPv4 TCP/UDP packets port_blocklist
    passes (no port blocked), 4 host queues, in a fresh process (`xdptool replay ... --json`)."""
    import os
    import struct
    import subprocess

    flows = []
    for k in range(4096):
        ports = struct.pack("!HH", 1024 + k, (80, 443, 8080, 5000)[k % 4])
        tcp = k % 2 == 0
        l4 = ports + (bytes(8) + b"\x50\x10" + bytes(6) if tcp else bytes(4))
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, 6 if tcp else 17, 0,
                         struct.pack("!I", 0x0A000000 + 7919 * k), struct.pack("!I", 0xC0A80001 + k % 251))
        flows.append((bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + l4).ljust(60, b"\0"))
    capture = out / "datapath.pcap"
    with capture.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i in range(DATAPATH_PACKETS):
            frame = flows[i % len(flows)]
            f.write(struct.pack("<IIII", 1_700_000_000 + i // 1_000_000, i % 1_000_000, len(frame), len(frame)) + frame)
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rates = {}
    for queues in (1, 4):
        done = subprocess.run([sys.executable, "-m", "xdptool.cli.main", "replay", str(obj_path), str(capture),
                               "--target", "nfp-emu", "--queues", str(queues), "--json"],
                              capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        summary = json.loads(done.stdout)["summary"]
        assert summary["verdicts"]["XDP_PASS"] == DATAPATH_PACKETS, summary["verdicts"]
        rates[queues] = summary["packets_per_second"]
    print(f"card datapath: {DATAPATH_PACKETS:,} passed packets, --queues 4 {rates[4]:,.0f} packets/s, "
          f"--queues 1 {rates[1]:,.0f} (4 / 1 = {rates[4] / rates[1]:.2f})")
    return {"datapath_packets": DATAPATH_PACKETS, "datapath_queues4_pps": round(rates[4]),
            "datapath_queues1_pps": round(rates[1]), "datapath_queues4_over_1": round(rates[4] / rates[1], 3)}


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
    offloadable = {}
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
        offloadable[name] = obj
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
    speed_obj = toolchain.build(ROOT / "programs" / "port_blocklist.c", out / "speed.o").output
    speed = speed_figures(load_object(speed_obj))
    agreement = agreement_figures(offloadable)
    datapath = datapath_figures(Path(speed_obj), out)
    print(f"closing note: nfp-emu native / jit = {speed['nfp_emu_over_jit']:.2f} on the same capture in the same run "
          f"({speed['nfp_emu_native_pps']:,} vs {speed['jit_pps']:,} packets/s); native vs executor "
          f"{agreement['native_executor_agree']:,} of {agreement['native_executor_packets']:,} packets agree")
    figures = {"offloadable": count, **speed, **agreement, **datapath,
               "mean_what_if_over_kernel_instructions": round(mean_ratio, 3),
               "what_if_share_8_contexts": round(share8, 3), "programs": rows}
    print("RESULT " + json.dumps({"figures": figures}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
