"""Agreement with the kernel's own verifier selftests (not part of CI).

    .venv/bin/python scripts/kernel_selftests.py [--tree DIR] [--cache DIR] [--no-kernel] [-v] [--json FILE]

Fetches Debian's linux-source package once (`apt-get download linux-source-<newest>`,
kept with its extracted selftests under ~/.cache/xdptool-selftests, never in the
repository), builds every tools/testing/selftests/bpf/progs/verifier_*.c that has
SEC("xdp") programs with clang, and for each such program compares xdptool's
verdict with

  * the selftest's annotation: __success / __failure, and its __msg("...") texts
    (each must occur in xdptool's log as a substring, in order, as the selftests'
    test_loader matches them; regex patterns {{...}} are matched as regexes);
  * the live kernel's verdict, where CAP_BPF is available.

Programs the verifier cannot judge (an XdpError: a feature xdptool does not
implement) are counted apart, as are files clang 14 cannot build.  Prints every
disagreement, then the agreement figures.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path.home() / ".cache" / "xdptool-selftests"
SELFTESTS = "tools/testing/selftests/bpf"
# what the build needs from the tree: the selftests, libbpf, the tools' uapi headers
MEMBERS = (SELFTESTS + "/", "tools/lib/bpf/", "tools/include/")

_XDP_PROG = re.compile(r'SEC\("xdp"\)(?P<attrs>.*?)\b(?P<name>\w+)\s*\(\s*void\s*\)\s*\{', re.S)
_MSG = re.compile(r'__msg\("((?:[^"\\]|\\.)*)"\)')
_REGEX = re.compile(r"\{\{(.*?)\}\}")


@dataclass
class Case:
    file: str
    name: str
    description: str
    expect_success: bool
    msgs: list[str] = field(default_factory=list)
    ours: str = ""  # "accept", "reject: <first line>", "unsupported: <why>", "not built: <why>"
    ours_log: str = ""
    kernel: str | None = None  # "accept", "reject: <reason>", None when not asked

    @property
    def ours_accepted(self) -> bool | None:
        return None if self.ours.startswith(("unsupported", "not built")) else self.ours == "accept"

    @property
    def kernel_accepted(self) -> bool | None:
        return None if self.kernel is None or self.kernel.startswith("error") else self.kernel == "accept"


# -- the kernel tree ---------------------------------------------------------------------------


def _newest_source_package() -> str:
    out = subprocess.run(["apt-cache", "search", "--names-only", r"^linux-source-[0-9.]+$"],
                         capture_output=True, text=True, check=True)
    names = [line.split()[0] for line in out.stdout.splitlines()]
    if not names:
        sys.exit("no linux-source-<version> package known to apt (apt-get update?)")
    return max(names, key=lambda n: tuple(int(x) for x in n.rsplit("-", 1)[1].split(".")))


def fetch_tree(cache: Path) -> Path:
    """The extracted kernel tree, downloading and extracting what is missing."""
    cache.mkdir(parents=True, exist_ok=True)
    trees = sorted(p for p in cache.glob("linux-source-*") if p.is_dir() and (p / SELFTESTS).is_dir())
    if trees:
        return trees[-1]
    package = _newest_source_package()
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
        debs = sorted(cache.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache / "deb")], check=True)
    tarball = next((cache / "deb").rglob("linux-source-*.tar.*"))
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if any(part in m.name for part in MEMBERS)]
        tar.extractall(cache, members=members)
    return next(p for p in cache.glob("linux-source-*") if p.is_dir())


# -- annotations -------------------------------------------------------------------------------


def _unescape(text: str) -> str:
    return text.encode().decode("unicode_escape")


def xdp_cases(path: Path) -> list[Case]:
    """Every SEC("xdp") program of a selftest file with its expectations (privileged run)."""
    source = path.read_text(errors="replace")
    cases = []
    for match in _XDP_PROG.finditer(source):
        attrs = match.group("attrs")
        words = set(re.findall(r"__\w+", attrs))
        if "__success" not in words and "__failure" not in words:
            continue
        description = re.search(r'__description\("((?:[^"\\]|\\.)*)"\)', attrs)
        cases.append(Case(path.name, match.group("name"), description.group(1) if description else match.group("name"),
                          "__success" in words, [_unescape(m) for m in _MSG.findall(attrs)]))
    return cases


def msgs_match(msgs: list[str], log: str) -> bool:
    """Each expected message occurs after the previous one (test_loader's matching)."""
    pos = 0
    for msg in msgs:
        if "{{" in msg:
            pattern = "".join(f"(?:{part})" if i % 2 else re.escape(part) for i, part in enumerate(_REGEX.split(msg)))
            found = re.compile(pattern).search(log, pos)
            if not found:
                return False
            pos = found.end()
            continue
        index = log.find(msg, pos)
        if index < 0:
            return False
        pos = index + len(msg)
    return True


# -- building and judging ----------------------------------------------------------------------


def build(tree: Path, src: Path, out_dir: Path) -> Path | str:
    """The object file, or clang's first error line."""
    out_dir.mkdir(parents=True, exist_ok=True)
    obj = out_dir / (src.stem + ".o")
    return _clang(tree, src, obj)


def build_alone(tree: Path, src: Path, name: str, out_dir: Path) -> Path | str:
    """One XDP program with the file's preamble (includes, maps), for files where some
    other program uses an instruction clang 14 cannot assemble."""
    source = src.read_text(errors="replace")
    preamble = source[: re.search(r"^SEC\(", source, re.M).start()]  # up to the first program
    match = next(m for m in _XDP_PROG.finditer(source) if m.group("name") == name)
    depth, end = 0, match.end() - 1
    for end in range(match.end() - 1, len(source)):  # the body, from its opening brace
        depth += {"{": 1, "}": -1}.get(source[end], 0)
        if depth == 0:
            break
    alone = out_dir / f"{src.stem}.{name}.c"
    alone.write_text(preamble + source[match.start() : end + 1] + '\nchar _license[] SEC("license") = "GPL";\n')
    return _clang(tree, alone, out_dir / f"{src.stem}.{name}.o", include=src.parent)


def _clang(tree: Path, src: Path, obj: Path, include: Path | None = None) -> Path | str:
    progs = tree / SELFTESTS / "progs"
    cmd = ["clang", "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-D__TARGET_ARCH_x86",
           "-I", str(tree / "tools/include/uapi"), "-I", str(include or progs), "-I", str(tree / SELFTESTS),
           "-I", "/usr/include", "-I", str(tree / "tools/include"), "-I/usr/include/x86_64-linux-gnu",
           "-Wno-unknown-attributes", "-Wno-compare-distinct-pointer-types", "-c", str(src), "-o", str(obj)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        return errors[0] if errors else done.stderr.strip().splitlines()[-1]
    return obj


def judge(case: Case, program, with_kernel: bool) -> None:
    from xdptool.errors import XdpError
    from xdptool.verifier import analyze

    try:
        result = analyze(program, log_level=1, collect_facts=False)
    except XdpError as error:
        case.ours = f"unsupported: {error}"
    else:
        case.ours = "accept" if result.accepted else f"reject: {result.error.first_line}"
        case.ours_log = result.log
    if with_kernel:
        from xdptool.kernel import verify_with_kernel

        try:
            verdict = verify_with_kernel(program, log_level=1, log_size=1 << 24)
        except XdpError as error:
            case.kernel = f"error: {error}"
        else:
            case.kernel = "accept" if verdict.accepted else f"reject: {verdict.last_line}"


def run(tree: Path, cache: Path, with_kernel: bool) -> tuple[list[Case], dict[str, str]]:
    from xdptool.elf import load_object
    from xdptool.errors import XdpError

    cases: list[Case] = []
    build_failures: dict[str, str] = {}
    for src in sorted((tree / SELFTESTS / "progs").glob("verifier_*.c")):
        file_cases = xdp_cases(src)
        if not file_cases:
            continue
        obj = build(tree, src, cache / "build")
        objects = {case.name: obj for case in file_cases}
        if isinstance(obj, str):  # build the XDP programs one by one
            objects = {case.name: build_alone(tree, src, case.name, cache / "build") for case in file_cases}
        for case in file_cases:
            obj = objects[case.name]
            if isinstance(obj, str):
                case.ours = f"not built: {obj}"
                cases.append(case)
                continue
            try:
                program = load_object(str(obj)).program(case.name)
            except XdpError as error:  # compiled out for this clang (#if __clang_major__ >= 18 ...)
                case.ours = f"not built: {error}"
            else:
                judge(case, program, with_kernel)
            cases.append(case)
    return cases, build_failures


def report(cases: list[Case], build_failures: dict[str, str], verbose: bool) -> dict:
    judged = [c for c in cases if c.ours_accepted is not None]
    compiled_out = [c for c in cases if c.ours.startswith("not built")]
    figures = {
        "xdp_cases": len(cases) + sum(int(v.split()[0]) for v in build_failures.values()),
        "not_built": sum(int(v.split()[0]) for v in build_failures.values()) + len(compiled_out),
        "unsupported": len(cases) - len(judged) - len(compiled_out),
        "judged": len(judged),
        "verdict_agrees_with_annotation": sum(c.ours_accepted == c.expect_success for c in judged),
    }
    with_msgs = [c for c in judged if not c.expect_success and c.msgs and c.ours_accepted is False]
    figures["msg_cases"] = len(with_msgs)
    figures["msg_agrees"] = sum(msgs_match(c.msgs, c.ours_log) for c in with_msgs)
    asked = [c for c in judged if c.kernel_accepted is not None]
    figures["kernel_asked"] = len(asked)
    figures["verdict_agrees_with_kernel"] = sum(c.ours_accepted == c.kernel_accepted for c in asked)
    figures["kernel_agrees_with_annotation"] = sum(c.kernel_accepted == c.expect_success for c in asked)

    for name, why in sorted(build_failures.items()):
        print(f"NOT BUILT {name}: {why}")
    for case in cases:
        where = f"{case.file}:{case.name} ({case.description})"
        expected = "success" if case.expect_success else "failure " + " | ".join(case.msgs)
        if case.ours_accepted is None:
            print(f"{'NOT BUILT' if case in compiled_out else 'UNSUPPORTED'} {where}: {case.ours}")
            continue
        disagree = case.ours_accepted != case.expect_success or (
            case.kernel_accepted is not None and case.ours_accepted != case.kernel_accepted)
        if disagree or verbose:
            print(f"{'DISAGREE' if disagree else 'agree'} {where}\n    expected: {expected}\n"
                  f"    xdptool:  {case.ours}\n    kernel:   {case.kernel}")
    print(json.dumps(figures))
    if judged:
        print(f"verdict agreement with the annotations: {figures['verdict_agrees_with_annotation']}/{len(judged)} "
              f"({100 * figures['verdict_agrees_with_annotation'] / len(judged):.1f} %)")
    if asked:
        print(f"verdict agreement with the live kernel: {figures['verdict_agrees_with_kernel']}/{len(asked)} "
              f"({100 * figures['verdict_agrees_with_kernel'] / len(asked):.1f} %); "
              f"kernel vs annotations {figures['kernel_agrees_with_annotation']}/{len(asked)}")
    if with_msgs:
        print(f"__msg agreement on rejected cases: {figures['msg_agrees']}/{len(with_msgs)}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, help="an extracted kernel tree (skips the download)")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"download and build directory (default {CACHE})")
    parser.add_argument("--no-kernel", action="store_true", help="do not ask the live kernel")
    parser.add_argument("-v", "--verbose", action="store_true", help="print agreeing cases too")
    parser.add_argument("--json", type=Path, help="write every case and the figures to this file")
    args = parser.parse_args()
    tree = args.tree or fetch_tree(args.cache)
    with_kernel = not args.no_kernel
    if with_kernel:
        from xdptool.kernel import kernel_unavailable_reason

        reason = kernel_unavailable_reason()
        if reason:
            print(f"live kernel not asked: {reason}")
            with_kernel = False
    cases, build_failures = run(tree, args.cache, with_kernel)
    figures = report(cases, build_failures, args.verbose)
    if args.json:
        doc = {"tree": str(tree), "figures": figures, "not_built": build_failures,
               "cases": [{k: v for k, v in vars(c).items() if k != "ours_log"} for c in cases]}
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
