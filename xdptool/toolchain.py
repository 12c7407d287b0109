"""Finding and running clang to turn restricted C into an eBPF object.

The BPF target has no libc; kernel UAPI headers live under the multiarch
include directory (asm/types.h) and libbpf's under /usr/include/bpf, so both
must be on the include path for `#include <linux/bpf.h>` and
`#include <bpf/bpf_helpers.h>` to work the way libbpf users expect.

Where objects go: `xdptool build` writes X.o next to X.c (or `-o`), as `make`
would; every other command given a `.c` (run, verify, replay, test, ...) builds it
into the cache (`build_cached`: $XDPTOOL_CACHE_DIR/objects, else
$XDG_CACHE_HOME/xdptool/objects, else ~/.cache/xdptool/objects), named by a hash of
the source, its local headers, the flags and the compiler, so the source tree is
never written behind the user's back and a rebuild happens only when one of those
changes.

A header clang cannot find is named with the package that ships it
(MISSING_HEADER_PACKAGES): glibc's headers included from BPF code (`<string.h>`,
`<stdint.h>`, as xdp-tutorial and Netronome's samples do) need gnu/stubs-32.h,
since the BPF target is neither x86_64 nor i386 to glibc's stubs.h.

clang writes the object under a temporary name beside the output, renamed into
place only when the build succeeded: a failed build leaves whatever file was
there (clang itself deletes its output on error), and a parallel build never
sees half an object.  The output is guarded as every output is (xdptool.files):
never the source or one of its local includes, never through a link, and an
existing file only if it is an ELF object (an earlier build) or with force.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CompileError, ToolchainError
from .files import AtomicFile, cache_root, check_output

INSTALL_HINT = "install it with: apt-get install clang llvm libbpf-dev linux-libc-dev"

# Debian multiarch triplets by machine, for when gcc is not there to ask.
MULTIARCH = {
    "x86_64": "x86_64-linux-gnu",
    "aarch64": "aarch64-linux-gnu",
    "armv7l": "arm-linux-gnueabihf",
    "ppc64le": "powerpc64le-linux-gnu",
    "s390x": "s390x-linux-gnu",
    "riscv64": "riscv64-linux-gnu",
}

BASE_FLAGS = ["-O2", "-g", "-target", "bpf"]

# a header clang reports missing -> the Debian package that ships it
MISSING_HEADER_PACKAGES = {
    "gnu/stubs-32.h": "libc6-dev-i386",  # glibc headers seen from -target bpf (xdp-tutorial's configure asks for it)
    "bpf/bpf_helpers.h": "libbpf-dev",
    "bpf/bpf_endian.h": "libbpf-dev",
    "linux/bpf.h": "linux-libc-dev",
    "asm/types.h": "linux-libc-dev",
    "asm/byteorder.h": "linux-libc-dev",
}
_MISSING_HEADER = re.compile(r"fatal error: '([^']+)' file not found")

_DIAG = re.compile(r"^(?P<file>[^:\n]+):(?:(?P<line>\d+):(?P<col>\d+):)? ?(?P<severity>error|warning|note|fatal error): (?P<message>.*)$")


def find_clang(explicit: str | None = None) -> str:
    """The clang to use: --clang, then $CLANG, then `clang` on PATH."""
    candidate = explicit or os.environ.get("CLANG") or "clang"
    path = shutil.which(candidate)
    if path is None:
        raise ToolchainError(f"clang not found ({candidate!r}); {INSTALL_HINT}")
    return path


def multiarch_include() -> str | None:
    triplet = MULTIARCH.get(platform.machine())
    if triplet and Path("/usr/include", triplet).is_dir():
        return f"/usr/include/{triplet}"
    return None


@dataclass
class Diagnostic:
    file: str
    line: int
    col: int
    severity: str
    message: str


@dataclass
class BuildResult:
    source: str
    output: str
    command: list[str]
    ok: bool
    stderr: str
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity in ("error", "fatal error")]


def default_output(source: str | Path) -> Path:
    return Path(source).with_suffix(".o")


def split_cflags(values) -> tuple[str, ...]:
    """--cflags "-mcpu=v3 -include stdbool.h" (each value split as a shell would)."""
    try:
        return tuple(flag for value in values for flag in shlex.split(value))
    except ValueError as exc:
        raise ToolchainError(f"--cflags: {exc}") from None


def missing_header_hint(stderr: str) -> str | None:
    """What to install when clang says a header is missing, if we know."""
    for header in _MISSING_HEADER.findall(stderr):
        package = MISSING_HEADER_PACKAGES.get(header)
        if package:
            return f"{header} is missing: install it with apt-get install {package}"
    return None


def compile_command(
    source: str | Path,
    output: str | Path,
    *,
    includes: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
    clang: str | None = None,
    cflags: tuple[str, ...] = (),
) -> list[str]:
    """clang's command line; `cflags` come last before the input, so they can override."""
    command = [find_clang(clang), *BASE_FLAGS]
    arch_include = multiarch_include()
    if arch_include:
        command.append(f"-I{arch_include}")
    command += [f"-I{d}" for d in includes]
    command += [f"-D{d}" for d in defines]
    command += [*cflags, "-c", str(source), "-o", str(output)]
    return command


def local_includes(source: str | Path, include_dirs: tuple[str, ...] = ()) -> set[Path]:
    """`source` and every file it includes with #include "..." (recursively), resolved:
    beside the including file, else in the -I directories, as the preprocessor looks."""
    found: set[Path] = set()
    pending = [Path(source).resolve()]
    while pending:
        path = pending.pop()
        if path in found or not path.is_file():
            continue
        found.add(path)
        text = path.read_text(errors="replace")
        for name in re.findall(r'#\s*include\s+"([^"]+)"', text):
            candidates = [path.parent / name, *(Path(d) / name for d in include_dirs)]
            pending.append(next((c for c in candidates if c.is_file()), candidates[0]).resolve())
    return found


def parse_diagnostics(stderr: str) -> list[Diagnostic]:
    found = []
    for line in stderr.splitlines():
        m = _DIAG.match(line)
        if m:
            found.append(
                Diagnostic(m["file"], int(m["line"] or 0), int(m["col"] or 0), m["severity"], m["message"])
            )
    return found


def build(
    source: str | Path,
    output: str | Path | None = None,
    *,
    includes: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
    clang: str | None = None,
    check: bool = True,
    force: bool = False,
    cflags: tuple[str, ...] = (),
) -> BuildResult:
    """Compile `source`; with check=True a compile error raises CompileError.

    force: replace an existing output that is not an ELF object, or a link (never the source).
    """
    source = Path(source)
    if not source.is_file():
        raise ToolchainError(f"{source}: no such source file")
    output = Path(output) if output else default_output(source)
    check_output(output, "object", sorted(local_includes(source, includes)), force)
    command = compile_command(source, output, includes=includes, defines=defines, clang=clang, cflags=cflags)
    env = dict(os.environ, TERM="dumb")
    staged = AtomicFile(output)
    staged.file.close()  # clang writes it
    command[-1] = str(staged.temp or output)
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=env)
    except OSError as exc:
        staged.discard()
        raise ToolchainError(f"cannot run {command[0]}: {exc.strerror}") from None
    finally:
        command[-1] = str(output)  # the command as shown: the output the user asked for
    stderr = proc.stderr.replace(str(staged.temp), str(output)) if staged.temp else proc.stderr
    produced = staged.temp is None or (staged.temp.exists() and staged.temp.stat().st_size > 0)
    if proc.returncode == 0 and produced:
        staged.commit()
    else:
        staged.discard()
    if proc.returncode == 0 and not produced:
        # clang exits 0 on an input it does not compile (e.g. README.md is a "linker input")
        stderr += f"{source}: error: clang produced no object (is it a C source file?)\n"
    hint = missing_header_hint(stderr) if proc.returncode else None
    if hint:
        stderr += f"xdptool: {hint}\n"
    result = BuildResult(
        source=str(source),
        output=str(output),
        command=command,
        ok=proc.returncode == 0 and produced,
        stderr=stderr,
        diagnostics=parse_diagnostics(stderr),
    )
    if check and not result.ok:
        first = result.errors[0] if result.errors else None
        summary = f"{first.file}:{first.line}:{first.col}: {first.message}" if first else stderr.strip().splitlines()[-1]
        raise CompileError(f"compilation failed: {summary}" + (f" ({hint})" if hint else ""))
    return result


OBJECTS = "objects"  # the cache's folder of implicitly built objects
_scratch: list[tempfile.TemporaryDirectory] = []  # where builds go when the cache cannot be written


def build_cached(source: str | Path, *, includes: tuple[str, ...] = (), defines: tuple[str, ...] = (),
                 cflags: tuple[str, ...] = (), clang: str | None = None, cache_dir: Path | None = None) -> Path:
    """The object of `source`, compiled once per content: the source and its local headers,
    the flags, and the compiler (its path, size and time) are hashed into the name.

    toolchain.build publishes the object by renaming it into place, so parallel runs
    building the same source each write a whole, identical object and no run reads
    half of one: no lock is needed.
    """
    source = Path(source)
    if not source.is_file():
        raise ToolchainError(f"{source}: no such source file")
    compiler = Path(find_clang(clang))
    stat = compiler.stat()
    digest = hashlib.sha256(repr((str(compiler), stat.st_size, stat.st_mtime_ns, BASE_FLAGS, includes, defines, cflags,
                                  multiarch_include())).encode())
    for path in sorted(local_includes(source, includes)):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    folder = cache_dir or cache_root() / OBJECTS
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        if not _scratch:
            _scratch.append(tempfile.TemporaryDirectory(prefix="xdptool-objects-"))
        folder = Path(_scratch[0].name)
    output = folder / f"{source.stem}-{digest.hexdigest()[:16]}.o"
    if not output.exists():
        build(source, output, includes=includes, defines=defines, cflags=cflags, clang=clang)
    return output
