"""Kernel reference column for `make bench`: programs/port_blocklist.c replayed through the kernel.

Two figures, both on the same packets and map state:

- `replay_pps`: packets per second of the kernel engine as replay drives it —
  one BPF_PROG_TEST_RUN syscall per packet (KernelEngine.run_batch in chunks),
  ctypes and result objects included.  All N packets are really run, no
  extrapolation.
- `in_kernel_pps`: what the kernel itself reports for running the program,
  BPF_PROG_TEST_RUN with repeat (the kernel's `duration`, mean ns per run),
  averaged over the distinct packets of the mix: the program's cost without
  syscall and Python overhead.

Usage: bench/bench_kernel.py [--packets N] [--json]; `measure()` is the API for bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SOURCE = ROOT / "programs" / "port_blocklist.c"
CAPTURE = ROOT / "programs" / "port_blocklist.pcap"
MAP_STATE = ROOT / "programs" / "port_blocklist.maps.json"
CHUNK = 65536
REPEAT = 100_000


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def synthetic_packet(proto: int, dport: int, size: int = 64) -> bytes:
    """An Ethernet/IPv4/UDP-or-TCP frame of `size` bytes (used when no capture is bundled)."""
    l4 = struct.pack("!HHIIBBHHH", 40000, dport, 1, 0, 5 << 4, 0x02, 8192, 0, 0) if proto == 6 \
        else struct.pack("!HHHH", 40000, dport, size - 34, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size - 14, 1, 0, 64, proto, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    frame = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00" + ip + l4
    return frame.ljust(size, b"\0")


def workload() -> tuple[list[bytes], dict]:
    """The packet mix and initial map state: the bundled capture/maps if present, else synthetic."""
    if CAPTURE.exists():
        from xdptool.replay.pcap import read_capture

        capture = read_capture(CAPTURE)
        packets = [capture.data(i) for i in range(len(capture)) if len(capture.data(i)) >= 14]
    else:
        packets = [synthetic_packet(proto, port) for proto in (17, 6) for port in (53, 80, 443, 8080)]
    if MAP_STATE.exists():
        state = json.loads(MAP_STATE.read_text())
    else:  # block 53/udp and 80/tcp
        state = {"blocklist": [{"key": "0035", "value": "01"}, {"key": "0050", "value": "02"}]}
    return packets, state


def measure(total: int = 1_000_000) -> dict:
    from xdptool import toolchain
    from xdptool.elf import load_object
    from xdptool.kernel.engine import KernelEngine
    from xdptool.kernel.probe import require_kernel
    from xdptool.runtime.maps import MapStore

    require_kernel()
    packets, state = workload()
    with tempfile.TemporaryDirectory() as tmp:
        obj = load_object(toolchain.build(SOURCE, Path(tmp) / "port_blocklist.o").output)
    store = MapStore.for_object(obj)
    store.load(state)
    stream = [packets[i % len(packets)] for i in range(total)]
    with KernelEngine(obj.program(), store) as engine:
        started = time.perf_counter()
        verdicts: dict[str, int] = {}
        for start in range(0, total, CHUNK):
            for result in engine.run_batch(stream[start : start + CHUNK]):
                verdicts[result.verdict] = verdicts.get(result.verdict, 0) + 1
        elapsed = time.perf_counter() - started
        repeat_ns = [engine.time_per_packet_ns(p, REPEAT) for p in packets]
    mean_ns = max(sum(repeat_ns) / len(repeat_ns), 1)
    return {
        "engine": "kernel",
        "program": "port_blocklist",
        "packets": total,
        "seconds": elapsed,
        "replay_pps": total / elapsed,
        "method": "one BPF_PROG_TEST_RUN per packet (all packets run)",
        "in_kernel_ns_per_packet": mean_ns,
        "in_kernel_pps": 1e9 / mean_ns,
        "in_kernel_method": f"BPF_PROG_TEST_RUN repeat={REPEAT} per distinct packet, kernel-reported duration",
        "verdicts": verdicts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from xdptool.errors import XdpError

    try:
        result = measure(args.packets)
    except XdpError as err:
        print(f"kernel bench skipped: {err}")
        print("RESULT " + json.dumps({"skipped": str(err)}))
        return
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"kernel  port_blocklist  {result['packets']:,} packets in {result['seconds']:.2f} s: "
        f"{result['replay_pps']:,.0f} packets/s ({result['method']}); "
        f"in-kernel {result['in_kernel_ns_per_packet']:.0f} ns/packet = {result['in_kernel_pps']:,.0f} packets/s"
    )
    figures = {key: result[key] for key in ("packets", "replay_pps", "in_kernel_pps")}
    print("RESULT " + json.dumps({"figures": {k: round(v) if isinstance(v, float) else v for k, v in figures.items()}}))


if __name__ == "__main__":
    main()
