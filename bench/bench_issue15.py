"""The fast engine against the kernel, end to end, at scale (issue 15 "Must show").

1. Per example (programs/*.c with a capture): the jit's run time per packet / the
   kernel's in-kernel time per packet, both in this run.  What each includes:
   - jit: the wall time of one bulk `run_packed` over the example's capture cycled
     to RUN_PACKETS packets, divided by RUN_PACKETS (best of JIT_TRIES calls; the
     results of one call are dropped before the next, so its output area is reused
     as in a streaming replay).  Per packet that is: a zeroed frame with the packet
     copied in, a zeroed stack, the program, its verdict, instruction count and
     output recorded (a changed packet copied out, a redirect target logged), plus
     the call's share of setting up and returning the flat result arrays.
   - kernel: BPF_PROG_TEST_RUN with repeat=REPEAT on each distinct frame of the
     capture, the kernel's own reported duration (bpf_test_run: the program run
     REPEAT times on the same xdp_buff, no reset or copy between runs, timed with
     ktime around the loop), averaged over the frames.
2. 1,000,000 packets of port_blocklist end to end: `xdptool replay` as a fresh
   process (start-up, reading, compile cache warm, summary), started as users start
   it: the installed `xdptool` console script beside this interpreter (the README's
   command; `python -m` would add runpy's ~5 ms), against a scripted
   per-packet kernel test-run loop (one BPF_PROG_TEST_RUN syscall per packet from
   Python, as a user script would; LOOP_SLICE packets timed after each replay run, so that
   both sides see the same load; scaled to 1M).
   Best and median of E2E_RUNS processes, beside a bare `python -c pass` (the
   interpreter's own start-up, site and the editable install's finder included).
3. Peak RSS of `xdptool replay --json` at 1M and 10M packets (ru_maxrss of the child), and
   on the same packets as pcapng at 100k and 1M (streamed; the 1M run's wall time too:
   runs of Enhanced Packet Blocks are walked natively, scan.py's pcapng_walk).
4. `--queues 2` against `--queues 1`: the jit on the 1M capture, the vm on 100k (wall
   time of the process, QUEUE_RUNS alternating runs each, best and median; the least CPU
   time of each, worker processes included; which workers ran the queues).
The machine's load average is printed beside the timed parts: on a shared machine
the medians move with it.

Captures are generated under $XDPTOOL_BENCH_CACHE (default /tmp/xdptool-bench),
never in the repository.  Prints RESULT {json} for bench/run.py.
"""

from __future__ import annotations

import json
import os
import sys
import time
from array import array
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

RUN_PACKETS = 200_000
REPEAT = 20_000
JIT_TRIES = 3
LOOP_SLICE = 20_000  # packets of the kernel loop timed after each replay run
E2E_RUNS = 9
QUEUE_RUNS = 5
BIG = int(os.environ.get("XDPTOOL_BENCH_BIG_PACKETS", "10000000"))


def result(**payload) -> None:
    print("RESULT " + json.dumps(payload))


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def load_average() -> list[float]:
    """The 1-, 5- and 15-minute load averages (the machine is shared: say how busy it was)."""
    return [round(value, 2) for value in os.getloadavg()]


def child_environment() -> dict[str, str]:
    """The replay processes' environment: Python bytecode cached (under the bench cache,
    not in the tree), as an installed package has it (pip compiles it at install), even
    where the caller's environment says PYTHONDONTWRITEBYTECODE."""
    from bench_replay import CACHE

    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(CACHE / "pycache")
    return env


# The timed processes are started by a small launcher process of their own: the kernel
# counts a process's peak RSS from before its exec (the forked copy of whoever forked it:
# exec_mmap keeps the old mm's high-water mark), so children forked by this bench, which
# holds captures and engines, would all show this process's size, not their own.
LAUNCHER = r"""
import json, os, sys, time
for line in sys.stdin:
    args, env = json.loads(line)
    started = time.perf_counter()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: stdout to the pipe, stderr discarded
        os.close(read_end)
        os.dup2(write_end, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execve(args[0], args, env)
    os.close(write_end)
    chunks = []
    while data := os.read(read_end, 1 << 16):
        chunks.append(data)
    os.close(read_end)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    print(json.dumps([seconds, usage.ru_maxrss // 1024, usage.ru_utime + usage.ru_stime, status,
                      b"".join(chunks).decode()]), flush=True)
"""
_launcher: list = []


def start_launcher() -> None:
    """The launcher, started while this process is still small (main's first step)."""
    import subprocess

    if not _launcher:
        _launcher.append(subprocess.Popen([sys.executable, "-c", LAUNCHER], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True))


def timed_child(args: list[str], cpu: list[float] | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS in MiB, stdout) of one process (its own rusage: os.wait4, in
    the launcher); its CPU seconds (user + system, the worker processes it waited for
    included) appended to `cpu` when given."""
    start_launcher()
    launcher = _launcher[0]
    launcher.stdin.write(json.dumps([args, child_environment()]) + "\n")
    launcher.stdin.flush()
    seconds, rss, cpu_seconds, status, out = json.loads(launcher.stdout.readline())
    if status:
        raise RuntimeError(f"{' '.join(args)}: wait status {status}")
    if cpu is not None:
        cpu.append(cpu_seconds)
    return seconds, rss, out


def xdptool_command() -> tuple[list[str], str]:
    """How the timed processes start xdptool, and its description: the console script the
    install made beside this interpreter (what a user runs), else `python -m`."""
    script = Path(sys.executable).parent / "xdptool"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)], f"the installed console script {script}"
    return [sys.executable, "-m", "xdptool.cli.main"], "python -m xdptool.cli.main (no console script installed)"


def examples() -> list[tuple[str, Path, Path, Path | None]]:
    found = []
    for source in sorted((ROOT / "programs").glob("*.c")):
        capture = source.with_suffix(".pcap")
        if capture.exists():
            maps = source.with_name(source.stem + ".maps.json")
            found.append((source.stem, source, capture, maps if maps.exists() else None))
    return found


def ratio_per_example(cache: Path) -> list[dict]:
    """jit ns/packet over in-kernel ns/packet, per example."""
    from xdptool import toolchain
    from xdptool.errors import XdpError
    from xdptool.kernel.engine import KernelEngine
    from xdptool.replay.pcap import read_capture
    from xdptool.runtime.target import program_target

    rows = []
    for name, source, capture_path, maps in examples():
        obj = toolchain.build(source, cache / f"{name}.o").output
        capture = read_capture(capture_path)
        frames = [i for i in range(len(capture)) if capture.lengths[i] >= 14]
        target = program_target(str(obj), None, "jit", str(maps) if maps else None)
        offsets = array("Q", (capture.offsets[frames[i % len(frames)]] for i in range(RUN_PACKETS)))
        lengths = array("I", (capture.lengths[frames[i % len(frames)]] for i in range(RUN_PACKETS)))
        engine, _ = target.make()
        engine.run_packed(capture.buffer, offsets[:1000], lengths[:1000])  # warm
        best = float("inf")
        for _ in range(JIT_TRIES):
            started = time.perf_counter()
            engine.run_packed(capture.buffer, offsets, lengths)  # results dropped at once
            best = min(best, time.perf_counter() - started)
        jit_ns = best / RUN_PACKETS * 1e9
        engine.close()
        try:
            with KernelEngine(target.program, target.new_store()) as kernel:
                kernel_ns = sum(kernel.time_per_packet_ns(bytes(capture.data(i)), REPEAT) for i in frames) / len(frames)
        except XdpError as exc:
            rows.append({"program": name, "jit_ns": round(jit_ns, 1), "kernel_ns": None, "why": str(exc)})
            continue
        kernel_ns = max(kernel_ns, 1.0)
        rows.append({"program": name, "jit_ns": round(jit_ns, 1), "kernel_ns": round(kernel_ns, 1),
                     "ratio": round(jit_ns / kernel_ns, 2)})
        print(f"{name:18} jit {jit_ns:7.1f} ns/packet   in-kernel {kernel_ns:7.1f} ns/packet   "
              f"ratio {jit_ns / kernel_ns:5.2f}x")
    return rows


def cached_pcapng(pcap: Path) -> Path:
    """The classic capture's packets as a pcapng (pcapng_writer: one interface, ns stamps),
    made once beside it in the bench cache."""
    from xdptool.replay.pcap import read_capture
    from xdptool.replay.pcapng_writer import PcapngWriter

    path = pcap.with_suffix(".pcapng")
    if not path.exists():
        capture = read_capture(pcap)
        partial = path.with_suffix(".pcapng.part")
        with open(partial, "wb") as handle:
            writer = PcapngWriter(handle, "bench_issue15")
            interface = writer.interface("eth0", "generated")
            for index in range(len(capture)):
                writer.packet(interface, capture.timestamps[index], capture.data(index), capture.orig_lengths[index])
        partial.rename(path)
    return path


def pcapng_rss(replay: list[str], common: list[str], state: dict, figures: dict) -> None:
    """pcapng streams too (issue 15 item 4): peak RSS on the same packets at 100k and 1M."""
    import bench_replay

    rss = {}
    for count in (100_000, 1_000_000):
        pcapng = cached_pcapng(bench_replay.cached_capture(state, count))
        seconds, rss[count], out = timed_child([*replay, str(pcapng), *common])
        assert json.loads(out)["summary"]["packets"] == count
    figures["pcapng_peak_rss_mib_100k"], figures["pcapng_peak_rss_mib_1m"] = rss[100_000], rss[1_000_000]
    figures["pcapng_e2e_1m_seconds"] = round(seconds, 2)
    print(f"pcapng, streamed: peak RSS {rss[100_000]} MiB at 100k packets, {rss[1_000_000]} MiB at 1M "
          f"(the 1M replay {seconds:.2f} s, packet blocks walked natively)")


class KernelLoop:
    """A user's script: load the program, then one BPF_PROG_TEST_RUN per packet.  `slice()`
    times LOOP_SLICE packets of it and returns the seconds per packet; the bench runs one
    slice after each replay, so both sides see the same machine (the loop alone moved from
    6.4 to 9.0 us a packet between runs of this bench on this shared machine)."""

    def __init__(self, obj: Path, maps: Path, capture_path: Path):
        from xdptool.kernel.engine import KernelEngine
        from xdptool.replay.pcap import read_capture
        from xdptool.runtime.target import program_target

        target = program_target(str(obj), None, "kernel", str(maps))
        capture = read_capture(capture_path)
        self.packets = [bytes(capture.data(i)) for i in range(min(LOOP_SLICE, len(capture)))]
        self.engine = KernelEngine(target.program, target.new_store())

    def slice(self) -> float:
        run = self.engine.runner.run  # kernel/testrun.py: one bpf(BPF_PROG_TEST_RUN) per call, nothing else
        started = time.perf_counter()
        for packet in self.packets:
            run(packet)
        return (time.perf_counter() - started) / len(self.packets)

    def close(self) -> None:
        self.engine.close()


def queue_speedups(replay: list[str], common: list[str], million: Path, vm_capture: Path, figures: dict) -> None:
    """--queues 2 against 1: the jit on 1M packets (start-up and reading are most of it: the
    program runs ~0.1 s), and the vm on 100k (running dominates).  The CPU seconds beside the
    wall time: what the queues cost in all, which the load of a shared machine does not move."""
    for label, capture, engine in (("jit_1m", million, []), ("vm_100k", vm_capture, ["--target", "vm"])):
        commands = {queues: [*replay, str(capture), *common, *engine,
                             *(["--queues", str(queues), "--sum-shared-maps"] if queues > 1 else [])]
                    for queues in (1, 2)}
        for args in commands.values():
            _, _, out = timed_child(args)  # warm (cpu 1's code is a cache entry of its own)
        workers = json.loads(out)["summary"]["queues"]["workers"]
        seconds: dict[int, list[float]] = {1: [], 2: []}
        cpu: dict[int, list[float]] = {1: [], 2: []}
        load_before = load_average()
        for _ in range(QUEUE_RUNS):  # alternating, so that both see the same load
            for queues, args in commands.items():
                seconds[queues].append(timed_child(args, cpu[queues])[0])
        best = {q: min(v) for q, v in seconds.items()}
        middle = {q: median(v) for q, v in seconds.items()}
        least_cpu = {q: min(v) for q, v in cpu.items()}
        figures[f"queues_{label}_seconds"] = [round(best[1], 3), round(best[2], 3)]
        figures[f"queues_{label}_seconds_median"] = [round(middle[1], 3), round(middle[2], 3)]
        figures[f"queues_{label}_cpu_seconds"] = [round(least_cpu[1], 3), round(least_cpu[2], 3)]
        figures[f"queues_{label}_workers"] = workers
        figures[f"queues_{label}_load_average"] = [load_before, load_average()]
        figures[f"queues2_speedup_{label}"] = round(best[1] / best[2], 2)
        figures[f"queues2_speedup_{label}_median"] = round(middle[1] / middle[2], 2)
        print(f"{label}: --queues 1 {best[1]:.3f} s, --queues 2 ({workers}) {best[2]:.3f} s on {os.cpu_count()} "
              f"cores = {best[1] / best[2]:.2f}x best of {QUEUE_RUNS} ({middle[1] / middle[2]:.2f}x by the medians, "
              f"{middle[1]:.3f} vs {middle[2]:.3f} s); CPU {least_cpu[1]:.3f} vs {least_cpu[2]:.3f} s; "
              f"load average {load_before} -> {load_average()}")


def main() -> int:
    start_launcher()
    try:
        import bench_replay
        from xdptool import toolchain
        from xdptool.kernel.probe import require_kernel
    except ImportError as exc:
        result(skipped=f"xdptool is incomplete here: {exc}")
        return 0
    cache = bench_replay.CACHE
    cache.mkdir(parents=True, exist_ok=True)
    figures: dict = {}
    try:
        require_kernel()
        have_kernel = True
    except Exception as exc:  # noqa: BLE001 - the kernel column is optional
        print(f"no kernel column: {exc}")
        have_kernel = False

    if have_kernel:
        rows = ratio_per_example(cache)
        ratios = [row["ratio"] for row in rows if row.get("ratio")]
        figures["per_example"] = rows
        figures["jit_over_kernel_max"] = max(ratios)
        figures["jit_over_kernel_median"] = sorted(ratios)[len(ratios) // 2]
        figures["examples_over_3x"] = [row["program"] for row in rows if row.get("ratio", 0) > 3]
        figures["examples_over_5x"] = [row["program"] for row in rows if row.get("ratio", 0) > 5]

    state, _ = bench_replay.blocklist_state()
    obj = toolchain.build(bench_replay.SOURCE, cache / "port_blocklist.o").output
    maps_file = cache / "port_blocklist.maps.json"
    maps_file.write_text(json.dumps(state))
    million = bench_replay.cached_capture(state, 1_000_000)
    common = ["--maps-in", str(maps_file), "--json"]
    xdptool, started_as = xdptool_command()
    replay = [*xdptool, "replay", str(obj)]
    figures["e2e_started_as"] = started_as
    timed_child([*replay, str(million), *common])  # warm the compile cache
    figures["load_average_before"] = load_average()
    python_start = [timed_child([sys.executable, "-c", "pass"])[0] for _ in range(E2E_RUNS)]
    loop = KernelLoop(Path(obj), maps_file, million) if have_kernel else None
    runs, slices = [], []
    try:
        for _ in range(E2E_RUNS):  # each replay run followed by a slice of the kernel loop
            runs.append(timed_child([*replay, str(million), *common]))
            if loop is not None:
                slices.append(loop.slice())
    finally:
        if loop is not None:
            loop.close()
    runs.sort()
    e2e_seconds, rss_1m, out = runs[0]
    e2e_median = median([run[0] for run in runs])
    summary = json.loads(out)["summary"]
    figures["e2e_1m_seconds"] = round(e2e_seconds, 3)
    figures["e2e_1m_seconds_median"] = round(e2e_median, 3)
    figures["python_start_seconds"] = round(min(python_start), 3)
    figures["e2e_1m_packets"] = summary["packets"]
    print(f"xdptool replay ({started_as}), 1M packets, fresh process, warm cache: {e2e_seconds:.3f} s best, "
          f"{e2e_median:.3f} s "
          f"median of {E2E_RUNS} (load average {load_average()}); `python -c pass` alone {min(python_start):.3f} s; "
          f"timing of the best {summary['timing']}")
    if slices:
        loop_1m, loop_1m_median = min(slices) * 1_000_000, median(slices) * 1_000_000
        figures["kernel_loop_1m_seconds"] = round(loop_1m, 2)
        figures["kernel_loop_1m_seconds_median"] = round(loop_1m_median, 2)
        figures["e2e_vs_kernel_loop"] = round(loop_1m / e2e_seconds, 1)
        figures["e2e_vs_kernel_loop_median"] = round(loop_1m_median / e2e_median, 1)
        print(f"scripted BPF_PROG_TEST_RUN loop, {len(slices)} slices of {LOOP_SLICE:,} packets, one after each "
              f"replay run: {min(slices) * 1e6:.2f} us/packet best, {median(slices) * 1e6:.2f} median = "
              f"{loop_1m:.1f} s per 1M; xdptool replay is {loop_1m / e2e_seconds:.1f}x faster best against best "
              f"({loop_1m_median / e2e_median:.1f}x median against median)")

    figures["peak_rss_mib_1m"] = rss_1m
    big = bench_replay.cached_capture(state, BIG)
    big_seconds, rss_big, out = timed_child([*replay, str(big), *common])
    figures[f"peak_rss_mib_{BIG // 1_000_000}m"] = rss_big
    figures[f"e2e_{BIG // 1_000_000}m_seconds"] = round(big_seconds, 2)
    print(f"peak RSS: {rss_1m} MiB at 1M packets, {rss_big} MiB at {BIG:,} ({big.stat().st_size >> 20} MiB file, "
          f"{json.loads(out)['summary']['packets']:,} packets in {big_seconds:.1f} s)")

    pcapng_rss(replay, common, state, figures)
    queue_speedups(replay, common, million, bench_replay.cached_capture(state, 100_000), figures)
    figures["load_average_after"] = load_average()
    result(figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
