"""Finding and running clang to turn restricted C into an eBPF object.

The BPF target has no libc; kernel UAPI headers live under the multiarch
include directory (asm/types.h) and libbpf's under /usr/include/bpf, so both
must be on the include path for `#include <linux/bpf.h>` and
`#include <bpf/bpf_helpers.h>` to work the way libbpf users expect.

clang writes the object under a temporary name beside the output, renamed into
place only when the build succeeded: a failed build leaves whatever file was
there (clang itself deletes its output on error), and a parallel build never
sees half an object.  The output is guarded as every output is (xdptool.files):
never the source or one of its local includes, never through a link, and an
existing file only if it is an ELF object (an earlier build) or with force.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CompileError, ToolchainError
from .files import AtomicFile, check_output

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


def compile_command(
    source: str | Path,
    output: str | Path,
    *,
    includes: tuple[str, ...] = (),
    defines: tuple[str, ...] = (),
    clang: str | None = None,
) -> list[str]:
    command = [find_clang(clang), *BASE_FLAGS]
    arch_include = multiarch_include()
    if arch_include:
        command.append(f"-I{arch_include}")
    command += [f"-I{d}" for d in includes]
    command += [f"-D{d}" for d in defines]
    command += ["-c", str(source), "-o", str(output)]
    return command


def local_includes(source: str | Path) -> set[Path]:
    """`source` and every file it includes with #include "..." (recursively), resolved."""
    found: set[Path] = set()
    pending = [Path(source).resolve()]
    while pending:
        path = pending.pop()
        if path in found or not path.is_file():
            continue
        found.add(path)
        text = path.read_text(errors="replace")
        pending += [(path.parent / name).resolve() for name in re.findall(r'#\s*include\s+"([^"]+)"', text)]
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
) -> BuildResult:
    """Compile `source`; with check=True a compile error raises CompileError.

    force: replace an existing output that is not an ELF object, or a link (never the source).
    """
    source = Path(source)
    if not source.is_file():
        raise ToolchainError(f"{source}: no such source file")
    output = Path(output) if output else default_output(source)
    check_output(output, "object", sorted(local_includes(source)), force)
    command = compile_command(source, output, includes=includes, defines=defines, clang=clang)
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
        raise CompileError(f"compilation failed: {summary}")
    return result
