"""pyright (basic) over the package, held to a checked-in baseline that only shrinks.

`tests/pyright-baseline.json` records, per file, how many errors pyright reported
when the check was introduced; a file may not gain errors.  When a file loses
some, lower its number (`python tests/test_types.py --update` rewrites the
baseline from the current tree) so they cannot come back.  Skipped, with the
reason, where pyright cannot start (it needs Node.js and, the first time, the
npm registry), and where the libraries it reads differ from those the baseline
was recorded with (their annotations change the counts, not our code).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "tests" / "pyright-baseline.json"
# What pyright's view of the package depends on besides our code.
DEPENDENCIES = ("pyright", "click", "pyelftools", "rich", "scapy", "llvmlite", "pytest", "hypothesis")


def environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": ".".join(map(str, sys.version_info[:2]))}
    for name in DEPENDENCIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def pyright_errors() -> Counter[str] | str:
    """Errors per package-relative file, or why pyright could not run."""
    exe = shutil.which("pyright") or str(Path(sys.executable).parent / "pyright")
    if not Path(exe).exists():
        return "pyright is not installed (make setup installs the test extra)"
    try:
        run = subprocess.run([exe, "--outputjson", "xdptool"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"pyright did not run: {exc}"
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        return f"pyright did not run: {(run.stderr or run.stdout).strip().splitlines()[-1:]}"
    return Counter(str(Path(d["file"]).resolve().relative_to(ROOT)) for d in report["generalDiagnostics"]
                   if d["severity"] == "error")


def test_no_file_gains_type_errors():
    recorded = json.loads(BASELINE.read_text())
    changed = {k: (v, environment()[k]) for k, v in recorded["environment"].items() if environment().get(k) != v}
    if changed:
        pytest.skip(f"the baseline was recorded with other versions (recorded, here): {changed}")
    found = pyright_errors()
    if isinstance(found, str):
        pytest.skip(found)
    baseline = recorded["errors"]
    grown = {f: (baseline.get(f, 0), n) for f, n in found.items() if n > baseline.get(f, 0)}
    assert grown == {}, "pyright errors above the baseline (file: (baseline, now)); run pyright xdptool to see them"


if __name__ == "__main__" and sys.argv[1:] == ["--update"]:
    errors = pyright_errors()
    if isinstance(errors, str):
        sys.exit(errors)
    BASELINE.write_text(json.dumps({"environment": environment(), "errors": dict(sorted(errors.items()))}, indent=1) + "\n")
    print(f"{sum(errors.values())} errors in {len(errors)} files written to {BASELINE}")
