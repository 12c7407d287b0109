"""xdptool's static verifier: abstract interpretation in the style of the Linux kernel's.

`analyze(program, profile)` returns a `VerifierResult`: the verdict, the error
(kernel wording, instruction, C line), the log, the kernel's statistics and the
per-instruction facts the NFP lowering uses.  Modules: `tnum` and `scalar`
(value domains), `branches` (what comparisons teach), `state` (registers, stack,
frames; shared copy-on-write), `helpers` (prototypes), `profiles` (linux,
unprivileged, nfp), `cfg` (structural checks, liveness), `checker` (the
interpreter), `fastpath` (instructions on constants), `pruning`, `precision`
(which scalars must match when pruning), `subprogs` (global functions, checked on
their own), `facts`, `log`; `native` picks compiled or interpreted forms of the hot
modules.
"""

from __future__ import annotations

import gc
import time

from ..errors import XdpError

from . import native

native.select()  # before anything imports the modules that may run compiled

from ..platform.programs import ProgType  # noqa: E402
from .profiles import PROFILE_NAMES, Profile, get_profile  # noqa: E402
from .result import Reject, VerifierError, VerifierResult  # noqa: E402

__all__ = ["analyze", "VerifierResult", "VerifierError", "Profile", "get_profile", "PROFILE_NAMES"]


def analyze(program, profile: str | Profile = "linux", *, log_level: int = 0, unprivileged: bool = False,
            collect_facts: bool = True, btf: str | None = None, insn_limit: int | None = None) -> VerifierResult:
    """Verify one program; bad input (unsupported features) raises XdpError.  `btf`: a file
    with the kernel's BTF, for programs that use kernel objects (default: the running kernel's);
    `insn_limit`: processed instructions before "too large" (default: the kernel's 1M)."""
    # The walk allocates many short-lived tuples and no reference cycles that outlive it
    # (the checker's own are broken by release()): the cyclic collector would only re-scan
    # live states (about 5% of the time), and re-enabled while the checker still holds them,
    # its next young-generation pass would traverse every state of the walk; so it stays off
    # until the checker is gone.  It goes off first thing: a pass due to the caller's own
    # allocations (an object file just read: thousands of young objects) is the caller's.
    collecting = gc.isenabled()
    gc.disable()
    try:
        Checker = _checker_class()
        _require_xdp(program)
        if isinstance(profile, str):
            profile = get_profile(profile, unprivileged=unprivileged)
        error = None
        start = time.perf_counter()
        checker = Checker(program, profile, log_level=log_level, collect_facts=collect_facts, btf_path=btf,
                          insn_limit=insn_limit)
        try:
            checker.run()
        except Reject as reject:
            error = _error_for(program, reject)
        elapsed_ms = (time.perf_counter() - start) * 1000
        result = _result(checker, error, elapsed_ms)
        checker.release()
        del checker
    finally:
        if collecting:
            gc.enable()
    return result


_CHECKER: list = []  # the Checker class once imported (a relative import per call costs ~1 us of a 20 us check)


def _checker_class():
    """verifier.checker.Checker, imported at the first analysis (importing the package stays cheap)."""
    if not _CHECKER:
        from .checker import Checker

        _CHECKER.append(Checker)
    return _CHECKER[0]


def _result(checker, error: VerifierError | None, elapsed_ms: float) -> VerifierResult:
    """The verdict, the log with the kernel's closing statistics lines, and the facts."""
    lines = checker.lines  # (the checker is released after this: its list is the log's)
    if error is not None:
        lines.append(error.message)
        if error.file:
            lines.append(f"{error.file}:{error.line}: {error.source}")
    depths = [checker.stack_depth.get(i, 0) for i in range(len(checker.cfg.subprog_starts) if checker.cfg else 1)]
    lines.append("stack depth " + "+".join(map(str, depths)))
    lines.append(
        f"processed {checker.processed} insns (limit 1000000) max_states_per_insn {checker.max_states_per_insn} "
        f"total_states {checker.total_states} peak_states {checker.peak_states} mark_read 0"
    )
    return VerifierResult(
        accepted=error is None,
        error=error,
        log="\n".join(lines) + "\n",
        processed_insns=checker.processed,
        total_states=checker.total_states,
        peak_states=checker.peak_states,
        max_states_per_insn=checker.max_states_per_insn,
        stack_depth=depths,
        facts=checker.facts,
        time_ms=elapsed_ms,
    )


def _require_xdp(program) -> None:
    """The checks, the context and the helpers are XDP's: another program type is bad input."""
    if program.type != ProgType.XDP:
        raise XdpError(f"{program.name}: section {program.section!r} makes it a {program.type_name} program "
                       f"(BPF_PROG_TYPE_{ProgType(program.type).name}); xdptool verifies XDP programs only "
                       "(verify --type xdp checks it as one)")


def _error_for(program, reject: Reject) -> VerifierError:
    line = None
    if reject.pc is not None:
        try:
            line = program.insn_at(reject.pc).line
        except KeyError:
            line = None
    return VerifierError.at(reject.message, reject.pc, line)
