"""The kernel's verifier selftests loaded as XDP (scripts/kernel_selftests.py), within a time budget.

    .venv/bin/python bench/bench_selftests.py [--budget SECONDS]

Too slow for CI (the first run downloads Debian's linux-source, ~150 MB, and builds
~100 selftest files with clang); `make bench` runs it.  The figures are the script's:
cases, comparable ones and agreement with their annotations, agreement with the live
kernel over every case it judged, false accepts, exit-2 cases and cases over the time
limit, and the verification time per case next to the kernel's (the median of the ratios).  A run the budget cut short says so ("partial": true) rather than failing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "kernel_selftests.py"
# within bench/run.py's per-bench timeout (XDPTOOL_BENCH_TIMEOUT, 900 s): a file started
# before the budget runs out is finished, and the download and build come before it
DEFAULT_BUDGET_S = float(os.environ.get("XDPTOOL_SELFTESTS_BUDGET", "600"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S,
                        help=f"seconds after which no new selftest file is started (default {DEFAULT_BUDGET_S:.0f})")
    args = parser.parse_args()
    if subprocess.run(["which", "clang"], capture_output=True).returncode:
        print('RESULT {"skipped": "clang is not installed (make setup)"}')
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "selftests.json"
        done = subprocess.run([sys.executable, str(SCRIPT), "--budget", str(args.budget), "--json", str(out)],
                              capture_output=True, text=True)
        summary = [line for line in done.stdout.splitlines()
                   if not line.startswith(("DISAGREE", "FALSE", "UNSUPPORTED", "TIMEOUT", "NOT BUILT", "agree ", "    "))]
        print("\n".join(summary[-8:]))
        if done.returncode or not out.exists():
            why = (done.stderr.strip().splitlines() or ["no output"])[-1]
            print("RESULT " + json.dumps({"skipped": f"kernel_selftests.py failed: {why}"}))
            return 0
        figures = json.loads(out.read_text())["figures"]
    keep = ("cases", "not_built", "judged", "comparable", "agree_with_annotation", "kernel_asked", "agree_with_kernel",
            "false_accepts", "false_rejects", "exit_2", "timeouts", "msg_cases", "msg_agree", "partial", "kernel",
            "median_ratio_to_kernel", "median_ours_ms", "median_kernel_ms", "ours_ms_total", "kernel_ms_total")
    result = {k: figures[k] for k in keep if k in figures}
    for name, (num, den) in {"annotation_pct": ("agree_with_annotation", "comparable"),
                             "kernel_pct": ("agree_with_kernel", "kernel_asked")}.items():
        if figures.get(den):
            result[name] = round(100 * figures[num] / figures[den], 1)
    result["left_out"] = {k: v for k, v in figures.get("kinds", {}).items() if k != "comparable"}
    print("RESULT " + json.dumps({"figures": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
