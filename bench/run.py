"""`make bench`: run every bench/bench_*.py and print a summary of their figures.

Each bench runs as its own process (a crash or a hang in one cannot take the
others down) and prints whatever it likes; a line `RESULT {json}` carries its
figures ({"figures": {...}}) or why it could not run ({"skipped": "reason"}).
This runner always exits 0: a bench that could not run says why, it does not
fail the build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TIMEOUT_S = int(os.environ.get("XDPTOOL_BENCH_TIMEOUT", "900"))
RESULT_PREFIX = "RESULT "


def run_bench(path: Path) -> dict:
    """Run one bench script; its stdout is echoed, its RESULT line parsed."""
    started = time.perf_counter()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(BENCH_DIR.parent), os.environ.get("PYTHONPATH")]))}
    try:
        proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        return {"status": f"could not run: timed out after {TIMEOUT_S} s"}
    elapsed = time.perf_counter() - started
    result: dict = {}
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            try:
                result = json.loads(line[len(RESULT_PREFIX) :])
            except json.JSONDecodeError:
                result = {"skipped": f"unreadable RESULT line: {line[:80]}"}
        else:
            print(f"  {line}")
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        return {"status": f"could not run: exit {proc.returncode}: {last}", "seconds": elapsed}
    if "skipped" in result:
        return {"status": f"could not run: {result['skipped']}", "seconds": elapsed}
    return {"status": "ok", "figures": result.get("figures", {}), "seconds": elapsed}


def main() -> int:
    benches = sorted(BENCH_DIR.glob("bench_*.py"))
    if not benches:
        print("no benchmarks (bench/bench_*.py) to run")
        return 0
    summary = {}
    for path in benches:
        print(f"== {path.stem}")
        summary[path.stem] = run_bench(path)
    print("\n== summary")
    for name, outcome in summary.items():
        print(f"{name}: {outcome['status']}")
        for key, value in outcome.get("figures", {}).items():
            if isinstance(value, (list, dict)):
                continue  # per-program detail: the bench printed it above
            shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
            print(f"  {key}: {shown}")
    print_ratios(summary)
    return 0


# Cross-bench ratios: the fast engine against the references measured in this run.
RATIOS = [
    ("jit end to end / kernel test-run replay", ("bench_replay", "jit_packets_per_second"), ("bench_kernel", "replay_pps")),
    ("jit end to end / in-kernel execution", ("bench_replay", "jit_packets_per_second"), ("bench_kernel", "in_kernel_pps")),
    ("jit end to end / reference vm", ("bench_replay", "jit_packets_per_second"), ("bench_replay", "vm_packets_per_second")),
]


def print_ratios(summary: dict) -> None:
    lines = []
    for label, (bench_a, key_a), (bench_b, key_b) in RATIOS:
        a = summary.get(bench_a, {}).get("figures", {}).get(key_a)
        b = summary.get(bench_b, {}).get("figures", {}).get(key_b)
        if a and b:
            lines.append(f"  {label}: {a / b:.2f}x")
    if lines:
        print("\n== ratios (same run)")
        print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
