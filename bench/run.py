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
            shown = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
            print(f"  {key}: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
