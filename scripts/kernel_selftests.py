"""Agreement with the kernel's own verifier selftests, every case loaded as XDP (`make bench`, not CI).

    .venv/bin/python scripts/kernel_selftests.py [--tree DIR] [--cache DIR] [--no-kernel] [--only GLOB]
                                                 [--files GLOB]
                                                 [--budget SECONDS] [-v] [--json FILE]

Fetches Debian's linux-source package once (`apt-get download linux-source-<newest>`,
kept with its extracted selftests under ~/.cache/xdptool-selftests, never in the
repository) and builds every tools/testing/selftests/bpf/progs/verifier_*.c with clang.
Every program the selftests run privileged (test_loader.c's rules: any program without
__auxiliary, unless its only annotations are the _unpriv ones or it is for another
architecture) is a case, whatever its section: xdptool checks it as XDP
(`verify --type xdp`), and the live kernel loads it as XDP as test_loader would
(object BTF and func_info, testing_prog_flags() plus the case's __flag()s, its
__log_level).

Which cases are comparable with their annotation (__success / __failure and the
__msg texts, matched in order as test_loader matches them, {{regex}} included):

  * comparable: the kernel, loading the case as XDP, gives the annotated verdict
    (and, for a failure, a log that matches the __msg texts);
  * type-dependent (left out, counted): it does not, but loaded as its own program
    type it does -- the verdict depends on the program type (an __sk_buff field, a
    helper XDP may not call).  Tracing/LSM/iterator cases are loaded against their
    vmlinux target; a section the kernel cannot load on its own here (struct_ops,
    a missing target) is presumed type-dependent and counted apart;
  * kernel differs (left out, counted): the kernel disagrees with the annotation under
    both types -- the annotations are Linux 6.12's (Debian's source), the running
    kernel may be newer;
  * load flags: cases needing BPF_F_STRICT_ALIGNMENT, which xdptool does not model.

Figures: agreement with the annotations over the comparable cases; agreement with the
live kernel over every case both judged (the kernel's verdict as XDP is what a user
of xdptool gets, type-dependent or not); false accepts (xdptool accepts, the kernel
as XDP refuses); exit-2 cases (xdptool raises XdpError: a feature it does not
implement, or an object it cannot read) and cases over the time limit.  Timing per case:
xdptool's analyze() in its worker (the object already read, as libbpf's parse is not in
the kernel's figure) next to the kernel's PROG_LOAD call, both at the case's log level,
and next to the kernel's own verification time (BPF_LOG_STATS, more loads at that level):
each side's first run (the kernel's first timed load is its first load of the program), and
the best of TIMING_RUNS on both sides (as bench_verifier.py measures the examples); the medians of the ratios are reported, and the worker's round
trip apart.  Without
the kernel only SEC("xdp") cases are compared, with their annotations.
"""

from __future__ import annotations

import argparse
import fnmatch
import functools
import hashlib
import json
import re
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CACHE = Path.home() / ".cache" / "xdptool-selftests"
SELFTESTS = "tools/testing/selftests/bpf"
# what the build needs from the tree: the selftests, libbpf, the tools' uapi headers, and the
# script that writes libbpf's bpf_helper_defs.h from the uapi header
MEMBERS = (SELFTESTS + "/", "tools/lib/bpf/", "tools/include/", "scripts/bpf_doc.py")
CASE_TIME_LIMIT_S = 60  # per case, xdptool's side (the kernel's is its own 1M-insn limit)
# Timing: each side's first run, and the best of this many (as bench_verifier.py takes the best
# of its runs for both sides); a case over SLOW_CASE_MS is not run again
TIMING_RUNS = 3
SLOW_CASE_MS = 1000

# test_loader.c's tags (btf_decl_tag "comment:..." on the program's FUNC; bpf_misc.h's macros)
TAG = "comment:"
_FLAG_BITS = {"BPF_F_STRICT_ALIGNMENT": 1 << 0, "BPF_F_ANY_ALIGNMENT": 1 << 1, "BPF_F_TEST_RND_HI32": 1 << 2,
              "BPF_F_TEST_STATE_FREQ": 1 << 3, "BPF_F_SLEEPABLE": 1 << 4, "BPF_F_XDP_HAS_FRAGS": 1 << 5,
              "BPF_F_TEST_REG_INVARIANTS": 1 << 7}
# testing_helpers.c testing_prog_flags(): every selftest load carries these (where the kernel has them)
TESTING_FLAGS = _FLAG_BITS["BPF_F_TEST_RND_HI32"] | _FLAG_BITS["BPF_F_TEST_REG_INVARIANTS"]
UNMODELLED_FLAGS = {"BPF_F_STRICT_ALIGNMENT"}  # xdptool checks as the kernel does on x86-64 without it
_REGEX = re.compile(r"\{\{(.*?)\}\}")
_PROG_DEF = re.compile(r'SEC\("(?P<sec>[^"]*)"\)(?P<attrs>(?:(?!SEC\().)*?)\b(?P<name>\w+)\s*\((?P<args>[^)]*)\)\s*\{', re.S)
# program types the kernel loads only against a BTF target (attach_btf_id): how libbpf names it
_TARGETS = {"fentry": ("{}", "func"), "fexit": ("{}", "func"), "fmod_ret": ("{}", "func"),
            "fentry.s": ("{}", "func"), "fexit.s": ("{}", "func"), "lsm": ("bpf_lsm_{}", "func"),
            "lsm.s": ("bpf_lsm_{}", "func"), "iter": ("bpf_iter_{}", "func"), "iter.s": ("bpf_iter_{}", "func"),
            "tp_btf": ("btf_trace_{}", "typedef")}


@dataclass
class Case:
    file: str
    name: str
    section: str
    description: str
    expect_success: bool
    msgs: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    log_level: int = 1
    ours: str = ""  # "accept", "reject: <first line>", "unsupported: <why>", "not built: <why>", "timeout: ..."
    ours_log: str = ""
    ours_log_sha: str = ""  # a digest of ours_log (in --json: two builds compared case by case)
    ours_ms: float = 0.0  # analyze() in the worker: setup, walk and log, as the kernel's PROG_LOAD call
    ours_best_ms: float = 0.0  # the best of TIMING_RUNS such calls (the first included)
    ours_wall_ms: float = 0.0  # the round trip to the worker: that, its ELF parse and the pipe
    kernel: str | None = None  # as XDP: "accept", "reject: <reason>", "error: <why>", None when not asked
    kernel_msgs: bool = False  # the kernel's log (as XDP) matches the __msg texts
    kernel_ms: float = 0.0  # the PROG_LOAD call (as XDP, at the case's log level)
    # the kernel's own "verification time" (BPF_LOG_STATS: bpf_check alone, no JIT nor syscall),
    # from a second load at the case's log level: what bench_verifier.py compares analyze() with
    kernel_verify_ms: float = 0.0  # the best of TIMING_RUNS loads
    kernel_verify_first_ms: float = 0.0  # the first of them
    own: str | None = None  # the kernel, loading the case as its own type
    kind: str = ""  # comparable, type-dependent, type-dependent (presumed), kernel differs, load flags, ...

    @property
    def ours_accepted(self) -> bool | None:
        return self.ours == "accept" if self.ours.startswith(("accept", "reject")) else None

    @property
    def kernel_accepted(self) -> bool | None:
        return None if self.kernel is None or self.kernel.startswith("error") else self.kernel == "accept"

    @property
    def is_xdp(self) -> bool:
        return self.section.lstrip("?").split("/")[0] in ("xdp", "xdp.frags")


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
    if trees and all((trees[-1] / member).exists() for member in MEMBERS):
        return trees[-1]
    package = _newest_source_package()
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "download", package], cwd=cache, check=True)
        debs = sorted(cache.glob(f"{package}_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(cache / "deb")], check=True)
    tarball = next((cache / "deb").rglob("linux-source-*.tar.*"))
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers() if any(part in m.name for part in MEMBERS)
                   and not (cache / m.name).exists()]
        tar.extractall(cache, members=members)
    return next(p for p in cache.glob("linux-source-*") if p.is_dir())


# -- annotations -------------------------------------------------------------------------------


def _tags(obj, name: str) -> list[str]:
    """The program's test tags (decl tags on its FUNC, component -1), "comment:" stripped,
    numbered ones (__msg: "test_expect_msg=<counter>=text") in counter order."""
    from xdptool.elf.btf import Kind

    btf = obj.btf
    func = btf.find(name, Kind.FUNC) if btf is not None else None
    if func is None:
        return []
    tags = [t.name[len(TAG):] for t in btf.types
            if t.kind is Kind.DECL_TAG and t.type == func and t.component_idx == -1 and t.name.startswith(TAG)]

    def order(tag: str):
        key, _, rest = tag.partition("=")
        counter, _, _ = rest.partition("=")
        return (key, int(counter)) if counter.isdigit() else (key, -1)

    return sorted(tags, key=order)


def case_of(obj, program, file: str) -> Case | None:
    """The privileged test test_loader.c makes of a program (None: no such test)."""
    tags = _tags(obj, program.name)
    plain = set(tags)
    if "test_auxiliary" in plain:
        return None
    arches = [t.split("=", 1)[1] for t in tags if t.startswith("test_arch=")]
    if arches and "X86_64" not in arches:
        return None
    priv = {"test_expect_failure", "test_expect_success"} & plain or any(t.startswith("test_expect_msg=") for t in tags)
    unpriv = {"test_expect_failure_unpriv", "test_expect_success_unpriv"} & plain or any(
        t.startswith("test_expect_msg_unpriv=") for t in tags)
    if unpriv and not priv:  # mode_mask is UNPRIV only
        return None
    values = {}
    for tag in tags:
        key, _, value = tag.partition("=")
        values.setdefault(key, value)
    msgs = [t.split("=", 2)[2] for t in tags if t.startswith("test_expect_msg=")]
    flags = [t.split("=", 1)[1] for t in tags if t.startswith("test_prog_flags=")]
    return Case(file, program.name, program.section, values.get("test_description") or program.name,
                "test_expect_failure" not in plain, msgs, flags, max(1, int(values.get("test_log_level", "1"), 0)))


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


# -- building ----------------------------------------------------------------------------------


def build(tree: Path, src: Path, out_dir: Path) -> Path | str:
    """The object file, or clang's first error line."""
    out_dir.mkdir(parents=True, exist_ok=True)
    obj = out_dir / (src.stem + ".o")
    if obj.exists() and obj.stat().st_mtime >= src.stat().st_mtime:
        return obj
    return _clang(tree, src, obj)


def _prog_name(match: re.Match) -> str:
    """The program a definition defines: BPF_PROG(name, args...) and its kind name it first."""
    name = match.group("name")
    return match.group("args").split(",")[0].strip() if name.isupper() else name


def _program_defs(source: str) -> list[tuple[re.Match, int]]:
    """Every program definition (SEC("name") on a function, not on a map or data) with the
    index one past its body's closing brace."""
    out = []
    for match in _PROG_DEF.finditer(source):
        section = match.group("sec")
        if section == "license" or section.startswith("."):
            continue
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(source)):  # the body, from its opening brace
            depth += {"{": 1, "}": -1}.get(source[end], 0)
            if depth == 0:
                break
        out.append((match, end + 1))
    return out


def build_alone(tree: Path, src: Path, name: str, out_dir: Path) -> Path | str:
    """One program with everything else of its file (includes, maps, subprograms) but the
    other programs, for files where some other program uses an instruction clang 14 cannot
    assemble."""
    obj = out_dir / f"{src.stem}.{name}.o"
    if obj.exists() and obj.stat().st_mtime >= src.stat().st_mtime:
        return obj
    source = src.read_text(errors="replace")
    kept, pos = [], 0
    for match, end in _program_defs(source):
        if _prog_name(match) != name:
            kept.append(source[pos : match.start()])
            pos = end
    alone = out_dir / f"{src.stem}.{name}.c"
    alone.write_text("".join(kept) + source[pos:])
    return _clang(tree, alone, obj, include=src.parent)


@functools.cache
def clang() -> str:
    """The newest clang installed: the selftests are written for clang 17+ (may_goto, gotol,
    __arg_* tags, BPF_ST); clang 14 (Debian's default) cannot build some of them, which are
    then counted as not built.  `apt-get install clang-19` (Debian 12) builds nearly all."""
    for version in range(25, 14, -1):
        if shutil.which(f"clang-{version}"):
            return f"clang-{version}"
    return "clang"


def vmlinux_header(out_dir: Path) -> Path:
    """The running kernel's types as C (vmlinux.h, as the selftests' Makefile makes it with bpftool)."""
    header = out_dir / "vmlinux" / "vmlinux.h"
    if not header.exists():
        header.parent.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["bpftool", "btf", "dump", "file", "/sys/kernel/btf/vmlinux", "format", "c"],
                              capture_output=True, text=True)
        if done.returncode == 0:
            header.write_text(done.stdout)
    return header.parent


def libbpf_headers(tree: Path, out_dir: Path) -> Path:
    """An include directory with the tree's libbpf headers as <bpf/...> (the selftests use
    __arg_* tags and bpf_for_each that older system headers lack) and bpf_helper_defs.h,
    generated as libbpf's Makefile does."""
    root = out_dir / "libbpf-include"
    defs = root / "bpf" / "bpf_helper_defs.h"
    if not defs.exists():
        defs.parent.mkdir(parents=True, exist_ok=True)
        for header in (tree / "tools/lib/bpf").glob("*.h"):
            (defs.parent / header.name).write_bytes(header.read_bytes())
        done = subprocess.run([sys.executable, str(tree / "scripts/bpf_doc.py"), "--header", "--file",
                               str(tree / "tools/include/uapi/linux/bpf.h")], capture_output=True, text=True)
        if done.returncode:
            sys.exit(f"bpf_doc.py could not write bpf_helper_defs.h: {done.stderr.strip()[-200:]}")
        defs.write_text(done.stdout)
    return root


def _clang(tree: Path, src: Path, obj: Path, include: Path | None = None) -> Path | str:
    progs = tree / SELFTESTS / "progs"
    cmd = [clang(), "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-mlittle-endian", "-D__TARGET_ARCH_x86",
           "-DENABLE_ATOMICS_TESTS",  # test_progs' flags (the selftests' Makefile)
           "-I", str(tree / "tools/include/uapi"), "-I", str(vmlinux_header(obj.parent)),
           "-I", str(libbpf_headers(tree, obj.parent)), "-I", str(include or progs), "-I", str(tree / SELFTESTS),
           "-I", "/usr/include", "-I", str(tree / "tools/include"), "-I/usr/include/x86_64-linux-gnu",
           "-Wno-unknown-attributes", "-Wno-compare-distinct-pointer-types", "-c", str(src), "-o", str(obj)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        errors = [line for line in done.stderr.splitlines() if "error:" in line]
        return errors[0] if errors else done.stderr.strip().splitlines()[-1]
    return obj


def file_cases(tree: Path, src: Path, build_dir: Path) -> list[tuple[Case | str, object]]:
    """[(case, its program), ...] for one selftest file; (a 'not built: ...' Case, None) where
    clang or xdptool's object reader failed."""
    from xdptool.elf import load_object
    from xdptool.errors import XdpError

    obj_path = build(tree, src, build_dir)
    if not isinstance(obj_path, str):
        try:
            obj = load_object(str(obj_path))
        except XdpError as error:
            return [(Case(src.name, "*", "?", "*", True, ours=f"unsupported: {error}"), None)]
        return [(case, program) for program in obj.programs
                if (case := case_of(obj, program, src.name)) is not None]
    out: list = []  # build the programs one by one
    for match, _end in _program_defs(src.read_text(errors="replace")):
        name, section = _prog_name(match), match.group("sec")
        one = build_alone(tree, src, name, build_dir)
        if isinstance(one, str):
            out.append((Case(src.name, name, section, name, True, ours=f"not built: {one}"), None))
            continue
        try:
            obj = load_object(str(one))
            program = obj.program(name)
        except XdpError as error:
            out.append((Case(src.name, name, section, name, True, ours=f"unsupported: {error}"), None))
            continue
        if (case := case_of(obj, program, src.name)) is not None:
            out.append((case, program))
    return out


# -- judging -----------------------------------------------------------------------------------


_LOADED: dict = {}  # the worker's last object


def _analyze(path: str, name: str, frags: bool, log_level: int) -> tuple[str, str, float, float]:
    """(verdict, log, ms the first analyze took, best ms of TIMING_RUNS) of xdptool's verifier
    on one program checked as XDP (in the worker)."""
    from xdptool.elf import load_object
    from xdptool.elf.sections import retyped, xdp_type
    from xdptool.errors import XdpError
    from xdptool.verifier import analyze

    if _LOADED.get("path") != path:
        _LOADED.update(path=path, obj=load_object(path))
    program = _LOADED["obj"].program(name)
    as_xdp = retyped(program, xdp_type("xdp.frags" if frags else "xdp"))
    start = time.perf_counter()
    try:
        result = analyze(as_xdp, log_level=log_level, collect_facts=False)
    except XdpError as error:
        took = (time.perf_counter() - start) * 1000
        return f"unsupported: {error}", "", took, took
    except Exception as error:  # an internal error is a finding, not a reason to stop the run
        return f"unsupported: internal error {type(error).__name__}: {error}", "", 0.0, 0.0
    took = best = (time.perf_counter() - start) * 1000
    for _ in range(TIMING_RUNS - 1 if took < SLOW_CASE_MS else 0):
        start = time.perf_counter()
        analyze(as_xdp, log_level=log_level, collect_facts=False)
        best = min(best, (time.perf_counter() - start) * 1000)
    return ("accept" if result.accepted else f"reject: {result.error.first_line}"), result.log, took, best


def _serve(conn) -> None:
    while True:
        job = conn.recv()
        if job is None:
            return
        conn.send(_analyze(*job))


class Worker:
    """xdptool's verifier in a child process, so a case over the time limit can be stopped
    (the compiled walk does not see signals)."""

    def __init__(self):
        self.process = None

    def judge(self, case: Case, program) -> None:
        import multiprocessing

        if self.process is None:
            context = multiprocessing.get_context("fork")
            self.conn, child = context.Pipe()
            self.process = context.Process(target=_serve, args=(child,), daemon=True)
            self.process.start()
        start = time.perf_counter()
        self.conn.send((program.object.path, program.name, "BPF_F_XDP_HAS_FRAGS" in case.flags, case.log_level & 3))
        if self.conn.poll(CASE_TIME_LIMIT_S):
            case.ours, case.ours_log, case.ours_ms, case.ours_best_ms = self.conn.recv()
            case.ours_log_sha = hashlib.sha256(case.ours_log.encode()).hexdigest()[:16]
            case.ours_wall_ms = (time.perf_counter() - start) * 1000
        else:
            case.ours = f"timeout: over {CASE_TIME_LIMIT_S} s"
            case.ours_ms = case.ours_best_ms = case.ours_wall_ms = (time.perf_counter() - start) * 1000
            self.close()

    def close(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.join()
            self.process = None


def _kernel_load(program, case: Case, prog_type: int, attach_type: int, flags: int,
                 attach_btf_id: int = 0, log_level: int | None = None) -> tuple[str, str, float]:
    """(verdict, log, ms) of one load as test_loader makes it: with the object's BTF and func_info
    (at the case's log level unless `log_level` is given)."""
    from xdptool.errors import XdpError
    from xdptool.kernel.load import KernelRejected, load_program
    from xdptool.kernel.maps import KernelMaps
    from xdptool.kernel.verify import program_maps

    program = program.replace(attach_type=attach_type, frags=False)  # (a Record: xdptool/record.py)
    try:
        with KernelMaps(program_maps(program), program.object) as kmaps:
            try:
                with load_program(program, kmaps.fds(), log_level=case.log_level if log_level is None else log_level,
                                  log_size=1 << 24,
                                  prog_type=prog_type, use_btf=bool(program.func_info), prog_flags=flags,
                                  attach_btf_id=attach_btf_id) as loaded:
                    return "accept", loaded.log, loaded.load_time_ns / 1e6
            except KernelRejected as rejected:
                if not rejected.log.strip():  # refused before the verifier ran (no BPF LSM, lockdown ...)
                    return f"error: {rejected.reason}", "", 0.0
                return f"reject: {rejected.reason}", rejected.log, rejected.load_time_ns / 1e6
    except XdpError as error:
        return f"error: {error}", "", 0.0


LOG_STATS = 4  # BPF_LOG_STATS
_VERIFICATION_TIME = re.compile(r"^verification time (\d+) usec", re.M)


def _flags(case: Case) -> int:
    bits = TESTING_FLAGS
    for flag in case.flags:
        clear = flag.startswith("!")
        value = _FLAG_BITS.get(flag.lstrip("!"), int(flag.lstrip("!"), 0) if flag.lstrip("!")[:1].isdigit() else 0)
        bits = bits & ~value if clear else bits | value
    return bits


def _target_id(section: str) -> int | None:
    """The vmlinux BTF id a tracing/LSM/iterator section attaches to (None: not found)."""
    from xdptool.elf.btf import VMLINUX_BTF, Kind, btf_file

    kind, _, target = section.lstrip("?").partition("/")
    spec = _TARGETS.get(kind)
    if spec is None or not target:
        return None
    try:
        btf = btf_file(VMLINUX_BTF)  # parsed once per process
    except Exception:
        return None
    return btf.find(spec[0].format(target), Kind.FUNC if spec[1] == "func" else Kind.TYPEDEF)


def judge_kernel(case: Case, program) -> None:
    """The live kernel's verdict as XDP, and as the case's own type where that decides its kind."""
    from xdptool.elf.sections import section_def, UNKNOWN
    from xdptool.platform.programs import AttachType, ProgType

    flags = _flags(case) & ~_FLAG_BITS["BPF_F_SLEEPABLE"]

    def verification_ms() -> float | None:
        """BPF_LOG_STATS: the kernel's own figure, the log at the case's level."""
        _, stats_log, _ = _kernel_load(program, case, ProgType.XDP, AttachType.XDP, flags,
                                       log_level=case.log_level | LOG_STATS)
        stats = _VERIFICATION_TIME.search(stats_log)
        return None if stats is None else int(stats.group(1)) / 1e3

    # The first timed load is the program's first load, as xdptool's first analyze is its first
    # look at the program (timed after the verdict load, the kernel's "first" ran warm).
    first = verification_ms()
    case.kernel, log, case.kernel_ms = _kernel_load(program, case, ProgType.XDP, AttachType.XDP, flags)
    case.kernel_msgs = msgs_match(case.msgs, log)
    if case.kernel_accepted is not None and first is not None:
        times = [first]
        while len(times) < TIMING_RUNS and times[0] < SLOW_CASE_MS and (took := verification_ms()) is not None:
            times.append(took)
        case.kernel_verify_first_ms, case.kernel_verify_ms = times[0], min(times)
    if case.kernel_accepted is None:
        case.kind = "kernel error"
    elif case.kernel_accepted == case.expect_success and (case.expect_success or case.kernel_msgs):
        case.kind = "comparable"
    elif any(f in UNMODELLED_FLAGS for f in case.flags):
        case.kind = "load flags"
    elif case.is_xdp:
        case.kind = "kernel differs"
    else:
        definition = section_def(case.section.lstrip("?"))
        attach_btf_id = 0
        if definition is UNKNOWN or definition.prog_type in (ProgType.STRUCT_OPS, ProgType.EXT):
            case.own = "error: not loadable on its own"
        elif definition.prog_type in (ProgType.TRACING, ProgType.LSM) and not (attach_btf_id := _target_id(case.section) or 0):
            case.own = "error: no attach target in the kernel's BTF"
        else:
            own_flags = _flags(case) | (_FLAG_BITS["BPF_F_SLEEPABLE"] if definition.sleepable else 0)
            case.own, own_log, _ = _kernel_load(program, case, definition.prog_type, definition.attach_type,
                                                own_flags, attach_btf_id)
        if case.own.startswith("error"):
            case.kind = "type-dependent (presumed)"
        elif (case.own == "accept") == case.expect_success and (case.expect_success or msgs_match(case.msgs, own_log)):
            case.kind = "type-dependent"
        else:
            case.kind = "kernel differs"


def run(tree: Path, cache: Path, with_kernel: bool, only: str | None, budget: float | None,
        files: str = "verifier_*.c") -> tuple[list[Case], bool]:
    """Every case judged; the flag says whether the time budget cut the run short."""
    cases: list[Case] = []
    started = time.monotonic()
    worker = Worker()
    sources = sorted((tree / SELFTESTS / "progs").glob(files))
    for src in sources:
        if only and not fnmatch.fnmatch(src.name, only):
            continue
        if budget is not None and time.monotonic() - started > budget:
            worker.close()
            return cases, True
        # Each side judges the file's cases back to back, so that its first run of a case
        # follows its own work on the case before, not the other side's: in one process a
        # kernel load just before our first analysis of a program doubled it (0.093 -> 0.168
        # ms median over verifier_[a-c]*.c; the kernel's walk leaves the CPU's caches cold).
        judged = list(file_cases(tree, src, cache / "build"))
        for case, program in judged:
            if program is not None:
                worker.judge(case, program)
        for case, program in judged:
            if program is not None and with_kernel:
                judge_kernel(case, program)
            elif program is not None:
                case.kind = "comparable" if case.is_xdp else "not compared (no kernel)"
            cases.append(case)
        print(f"  {src.name}: {len([c for c in cases if c.file == src.name])} cases "
              f"({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    worker.close()
    return cases, False


# -- the report --------------------------------------------------------------------------------


def _pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.1f} %)" if d else "0/0"


def figures_of(cases: list[Case]) -> dict:
    judged = [c for c in cases if c.ours_accepted is not None]
    comparable = [c for c in judged if c.kind == "comparable"]
    asked = [c for c in judged if c.kernel_accepted is not None]
    with_msgs = [c for c in comparable if not c.expect_success and c.msgs and c.ours_accepted is False]
    kinds: dict[str, int] = {}
    for case in cases:
        if case.kind:
            kinds[case.kind] = kinds.get(case.kind, 0) + 1
    return {
        "cases": len(cases),
        "not_built": sum(c.ours.startswith("not built") for c in cases),
        "exit_2": sum(c.ours.startswith("unsupported") for c in cases),
        "timeouts": sum(c.ours.startswith("timeout") for c in cases),
        "judged": len(judged),
        "kinds": kinds,
        "comparable": len(comparable),
        "agree_with_annotation": sum(c.ours_accepted == c.expect_success for c in comparable),
        "msg_cases": len(with_msgs),
        "msg_agree": sum(msgs_match(c.msgs, c.ours_log) for c in with_msgs),
        "kernel_asked": len(asked),
        "agree_with_kernel": sum(c.ours_accepted == c.kernel_accepted for c in asked),
        "false_accepts": sum(c.ours_accepted and c.kernel_accepted is False for c in asked),
        "false_rejects": sum(c.ours_accepted is False and c.kernel_accepted for c in asked),
        "false_accepts_vs_annotation": sum(c.ours_accepted and not c.expect_success for c in comparable),
        "ours_ms_total": round(sum(c.ours_ms for c in cases), 1),
        "ours_wall_ms_total": round(sum(c.ours_wall_ms for c in cases), 1),
        "kernel_ms_total": round(sum(c.kernel_ms for c in cases), 1),
        **_timing(asked),
    }


def _timing(asked: list[Case]) -> dict:
    """Per case, xdptool's analyze() next to the kernel's PROG_LOAD call (both with the case's
    log level, both after the object was read); the median of the ratios, and of each side."""
    timed = [c for c in asked if c.kernel_ms > 0 and c.ours_ms > 0]
    if not timed:
        return {}
    return {"timed_cases": len(timed),
            "median_ratio_to_kernel": round(statistics.median(c.ours_ms / c.kernel_ms for c in timed), 2),
            "median_ours_ms": round(statistics.median(c.ours_ms for c in timed), 3),
            "median_ours_wall_ms": round(statistics.median(c.ours_wall_ms for c in timed), 3),
            "median_kernel_ms": round(statistics.median(c.kernel_ms for c in timed), 3),
            **_verify_timing(asked)}


def _verify_timing(asked: list[Case]) -> dict:
    """analyze() against the kernel's own verification time (BPF_LOG_STATS), per case."""
    timed = [c for c in asked if c.kernel_verify_ms > 0 and c.ours_ms > 0]
    if not timed:
        return {}
    return {"verify_timed_cases": len(timed),
            # first runs on both sides, and the best of TIMING_RUNS on both
            "median_ratio_to_kernel_verify": round(statistics.median(c.ours_ms / c.kernel_verify_first_ms
                                                                     for c in timed), 2),
            "median_ratio_to_kernel_verify_best": round(statistics.median(c.ours_best_ms / c.kernel_verify_ms
                                                                          for c in timed), 2),
            "median_kernel_verify_ms": round(statistics.median(c.kernel_verify_first_ms for c in timed), 3),
            "median_kernel_verify_best_ms": round(statistics.median(c.kernel_verify_ms for c in timed), 3),
            "median_ours_best_ms": round(statistics.median(c.ours_best_ms for c in timed), 3)}


def report(cases: list[Case], verbose: bool) -> dict:
    figures = figures_of(cases)
    for case in cases:
        where = f"{case.file}:{case.name} [{case.section}] ({case.description})"
        expected = "success" if case.expect_success else "failure " + " | ".join(case.msgs)
        if case.ours_accepted is None:
            print(f"{case.ours.split(':')[0].upper()} {where}: {case.ours}")
            continue
        kernel_disagrees = case.kernel_accepted is not None and case.ours_accepted != case.kernel_accepted
        annotation_disagrees = case.kind == "comparable" and case.ours_accepted != case.expect_success
        if kernel_disagrees or annotation_disagrees or verbose:
            label = ("FALSE-ACCEPT" if case.ours_accepted and case.kernel_accepted is False else
                     "DISAGREE" if kernel_disagrees or annotation_disagrees else "agree")
            print(f"{label} {where} [{case.kind}]\n    expected: {expected}\n"
                  f"    xdptool:  {case.ours}\n    kernel:   {case.kernel}" + (f"\n    own type: {case.own}" if case.own else ""))
    print(json.dumps(figures))
    print(f"cases: {figures['cases']} (not built {figures['not_built']}, exit 2 {figures['exit_2']}, "
          f"over {CASE_TIME_LIMIT_S} s {figures['timeouts']}); kinds: {figures['kinds']}")
    print(f"verdict agreement with the annotations (comparable cases): "
          f"{_pct(figures['agree_with_annotation'], figures['comparable'])}")
    if figures["kernel_asked"]:
        print(f"verdict agreement with the live kernel (every case, loaded as XDP): "
              f"{_pct(figures['agree_with_kernel'], figures['kernel_asked'])}; false accepts {figures['false_accepts']}, "
              f"false rejects {figures['false_rejects']}")
    if figures.get("timed_cases"):
        print(f"verification time per case, median: xdptool {figures['median_ours_ms']:.3f} ms (with the worker's "
              f"round trip and ELF parse {figures['median_ours_wall_ms']:.3f} ms), kernel PROG_LOAD "
              f"{figures['median_kernel_ms']:.3f} ms; median ratio {figures['median_ratio_to_kernel']:.2f}x over "
              f"{figures['timed_cases']} cases; totals {figures['ours_ms_total'] / 1000:.1f} s and "
              f"{figures['kernel_ms_total'] / 1000:.1f} s")
    if figures.get("verify_timed_cases"):
        print(f"against the kernel's own verification time (BPF_LOG_STATS, the case's log level), first runs: "
              f"kernel median {figures['median_kernel_verify_ms']:.3f} ms; median ratio "
              f"{figures['median_ratio_to_kernel_verify']:.2f}x over {figures['verify_timed_cases']} cases; best of "
              f"{TIMING_RUNS} on both sides: xdptool {figures['median_ours_best_ms']:.3f} ms, kernel "
              f"{figures['median_kernel_verify_best_ms']:.3f} ms, median ratio "
              f"{figures['median_ratio_to_kernel_verify_best']:.2f}x")
    if figures["msg_cases"]:
        print(f"__msg agreement on rejected comparable cases: {_pct(figures['msg_agree'], figures['msg_cases'])}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tree", type=Path, help="an extracted kernel tree (skips the download)")
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"download and build directory (default {CACHE})")
    parser.add_argument("--no-kernel", action="store_true", help="do not ask the live kernel")
    parser.add_argument("--only", help="only the selftest files matching this glob (verifier_spin_lock.c)")
    parser.add_argument("--files", default="verifier_*.c",
                        help="which progs/*.c files hold the cases (default verifier_*.c; dynptr_*.c: the "
                             "dynptr selftests, annotated the same way)")
    parser.add_argument("--budget", type=float, help="start no new file after this many seconds (a partial run)")
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
    cases, partial = run(tree, args.cache, with_kernel, args.only, args.budget, args.files)
    figures = report(cases, args.verbose)
    figures["partial"] = partial
    figures["kernel"] = with_kernel
    if partial:
        print(f"PARTIAL: the {args.budget:.0f} s budget ran out before every file was judged")
    if args.json:
        doc = {"tree": str(tree), "figures": figures,
               "cases": [{k: v for k, v in vars(c).items() if k != "ours_log"} for c in cases]}
        args.json.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
