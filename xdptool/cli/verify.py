"""`xdptool verify`: xdptool's static verifier, optionally next to the kernel's.

One program prints its verdict as the kernel would; several (every program of
every OBJ given, as veristat verifies them) print one row each, as veristat does:
verdict, duration, processed instructions, states, and with --kernel the kernel's
own figures for the same program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import click

from ..elf.sections import XDP_TYPE_NAMES, retyped, xdp_type
from ..errors import XdpError
from .buildopts import build_args, build_options
from .console import err, json_option, out, print_json
from ..runtime.target import load_object_or_source as load

# the statistics line the kernel's verifier ends its log with (log level 1 and up)
KERNEL_STATES = re.compile(r"total_states (\d+) peak_states (\d+)")


def _kernel_verdict(program, log_level: int) -> dict:
    from ..kernel import verify_with_kernel

    verdict = verify_with_kernel(program, log_level=max(log_level, 1))
    states = KERNEL_STATES.search(verdict.log)
    return {
        "accepted": verdict.accepted,
        "message": None if verdict.accepted else verdict.last_line,
        "processed_insns": verdict.insn_processed,
        "total_states": int(states[1]) if states else None,
        "peak_states": int(states[2]) if states else None,
        "load_time_ms": round(verdict.load_time_ns / 1e6, 3),
    }


@dataclass
class Row:
    """One program's outcome: a verifier result, or why it was not verified."""

    file: str
    program: object
    result: object = None  # verifier.VerifierResult
    kernel: dict | None = None
    skipped: str | None = None  # not an XDP program (and no --type)
    error: str | None = None  # bad input for this program (unsupported feature, ...)
    doc: dict = field(default_factory=dict)

    @property
    def agree(self) -> bool:
        return self.kernel is None or self.result is None or self.kernel["accepted"] == self.result.accepted

    @property
    def verdict(self) -> str:
        if self.skipped:
            return "skipped"
        if self.error:
            return "error"
        return "accepted" if self.result.accepted else "rejected"

    @property
    def code(self) -> int:
        """0 accepted (or skipped), 1 rejected or the kernel disagrees, 2 not verifiable."""
        if self.error:
            return 2
        if self.skipped:
            return 0
        return 0 if self.result.accepted and self.agree else 1


def _programs(paths, selector, build: dict):
    """(file, program) for every program of every OBJ, or the one -p names in each."""
    for path in paths:
        obj = load(path, build)
        programs = [obj.program(selector)] if selector else obj.programs
        if not programs:
            raise XdpError(f"{path}: no programs in the object")
        for program in programs:
            yield path, program


def _verify(path, program, *, profile, unprivileged, log_level, prog_type, with_kernel, several, btf=None) -> Row:
    from ..platform.programs import ProgType
    from ..verifier import analyze

    if prog_type is not None:
        program = retyped(program, xdp_type(prog_type))
    elif several and program.type != ProgType.XDP:
        return Row(path, program, skipped=f"a {program.type_name} program (section {program.section!r}); "
                                          "xdptool verifies XDP programs (--type xdp checks it as one)")
    try:
        result = analyze(program, profile, log_level=log_level, unprivileged=unprivileged, collect_facts=False,
                         btf=btf)
    except XdpError as exc:
        if not several:
            raise
        return Row(path, program, error=str(exc).splitlines()[0])
    kernel = _kernel_verdict(program, log_level) if with_kernel else None
    return Row(path, program, result, kernel)


@click.command("verify")
@click.argument("objs", metavar="OBJ...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-p", "--prog", "selector", help="Only this program (name or section) of each OBJ; default: all of them.")
@click.option("--profile", type=click.Choice(["linux", "nfp"]), default="linux", show_default=True,
              help="linux: a privileged load on a current kernel; nfp: what the NFP offload accepts.")
@click.option("--unprivileged", is_flag=True, help="Check as an unprivileged load (no loops, no pointer leaks).")
@click.option("--log-level", type=click.IntRange(0, 2), default=0, show_default=True,
              help="1: every processed instruction with the registers it touched; 2: full states at branches.")
@click.option("--type", "prog_type", type=click.Choice(XDP_TYPE_NAMES),
              help="Check (and load, with --kernel) as this XDP program type whatever the section says, "
                   "as bpftool's `prog load ... type`: xdp/devmap may read egress_ifindex.")
@click.option("--kernel", "with_kernel", is_flag=True,
              help="Also load into the running kernel: its verdict, processed insns, states and load time.")
@click.option("--btf", "btf", metavar="FILE", type=click.Path(dir_okay=False),
              help="The kernel's BTF, for programs that use kernel objects (bpf_get_current_task_btf, kfuncs); "
                   "default: the running kernel's, /sys/kernel/btf/vmlinux.")
@build_options
@json_option()
def command(objs, selector, profile, unprivileged, log_level, prog_type, with_kernel, btf, includes, defines, cflags,
            as_json):
    """Verify the programs of each OBJ (.o, or .c built first); exit 0 when all are accepted,
    1 when one is rejected (or, with --kernel, the kernel's verdict differs from xdptool's).

    One program prints its verdict and, when rejected, the reason with its C line; several
    print one row each, as veristat does (`xdptool verify a.o b.o`).
    """
    selected = list(_programs(objs, selector, build_args(includes, defines, cflags)))
    several = len(selected) > 1
    rows = [_verify(path, program, profile=profile, unprivileged=unprivileged, log_level=log_level,
                    prog_type=prog_type, with_kernel=with_kernel, several=several, btf=btf) for path, program in selected]
    code = max(row.code for row in rows)
    shown_profile = "unprivileged" if unprivileged and profile == "linux" else profile
    if as_json:
        docs = [_row_json(row, shown_profile) for row in rows]
        if several:
            counts = {v: sum(1 for r in rows if r.verdict == v) for v in ("accepted", "rejected", "skipped", "error")}
            print_json({"programs": docs, "summary": counts})
        else:
            print_json(docs[0])
        raise SystemExit(code)
    if several:
        _show_table(rows, log_level)
    else:
        _show_one(rows[0], log_level)
    raise SystemExit(code)


def text_table(titles: list[str], rows: list[list[str]], left: set[str]) -> str:
    """A plain table as veristat prints one: titles, dashes, cells padded to the widest;
    never wrapped or cut to the terminal's width, so it can be grepped and diffed."""
    widths = [max(len(t), *(len(r[i]) for r in rows)) for i, t in enumerate(titles)]

    def line(cells):
        return "  ".join(c.ljust(w) if t in left else c.rjust(w) for c, w, t in zip(cells, widths, titles)).rstrip()

    return "\n".join([line(titles), line(["-" * w for w in widths]), *map(line, rows)])


def _row_json(row: Row, profile: str) -> dict:
    doc = row.result.as_json() if row.result is not None else {"accepted": None}
    doc.update(file=row.file, program=row.program.name, profile=profile, verdict=row.verdict)
    if row.skipped or row.error:
        doc["reason"] = row.skipped or row.error
    if row.kernel is not None:
        doc["kernel"] = row.kernel
        doc["verdicts_agree"] = row.agree
    return doc


def _show_one(row: Row, log_level: int) -> None:
    result, program = row.result, row.program
    if log_level:
        out.print(result.log.rstrip(), markup=False)
    stats = f"processed {result.processed_insns} insns, stack depth {result.stack_depth_total}"
    if result.accepted:
        out.print(f"{program.name}: accepted ({stats})", markup=False)
    else:
        error = result.error
        if not log_level:
            _show_error(error)
        err.print(f"{program.name}: rejected at insn {error.insn} ({stats})", markup=False)
    if row.kernel is not None:
        ours = "accepted" if result.accepted else f"rejected: {result.error.first_line}"
        theirs = "accepted" if row.kernel["accepted"] else f"rejected: {row.kernel['message']}"
        out.print(f"xdptool: {ours}\nkernel:  {theirs}\nverdicts {'agree' if row.agree else 'DISAGREE'}", markup=False)


def _show_error(error) -> None:
    err.print(error.message, markup=False)
    if error.file:
        err.print(f"  {error.file}:{error.line}: {error.source}", markup=False)


# veristat's columns, then the kernel's with --kernel: (title, cell of a verified row)
COLUMNS = [
    ("Duration (us)", lambda r: f"{r.result.time_ms * 1000:.0f}"),
    ("Insns", lambda r: str(r.result.processed_insns)),
    ("States", lambda r: str(r.result.total_states)),
    ("Peak states", lambda r: str(r.result.peak_states)),
]
KERNEL_COLUMNS = [
    ("Kernel verdict", lambda k: "accepted" if k["accepted"] else "rejected"),
    ("Kernel (us)", lambda k: f"{k['load_time_ms'] * 1000:.0f}"),
    ("Kernel insns", lambda k: str(k["processed_insns"] if k["processed_insns"] is not None else "-")),
    ("Kernel states", lambda k: str(k["total_states"] if k["total_states"] is not None else "-")),
]


def _show_table(rows: list[Row], log_level: int) -> None:
    with_kernel = any(r.kernel is not None for r in rows)
    columns = COLUMNS + (KERNEL_COLUMNS if with_kernel else [])
    lines = []
    for row in rows:
        cells = [row.file, row.program.name, row.verdict + ("" if row.agree else " (kernel differs)")]
        cells += [cell(row) if row.result is not None else "-" for _, cell in COLUMNS]
        if with_kernel:
            cells += [cell(row.kernel) if row.kernel is not None else "-" for _, cell in KERNEL_COLUMNS]
        lines.append(cells)
    titles = ["File", "Program", "Verdict"] + [title for title, _ in columns]
    out.print(text_table(titles, lines, left={"File", "Program", "Verdict", "Kernel verdict"}), markup=False)
    for row in rows:
        if row.result is not None and log_level:
            err.print(f"--- {row.file}: {row.program.name} ---", markup=False)
            err.print(row.result.log.rstrip(), markup=False)
        elif row.result is not None and not row.result.accepted:
            err.print(f"{row.file}: {row.program.name}: rejected at insn {row.result.error.insn}:", markup=False)
            _show_error(row.result.error)
        elif row.skipped or row.error:
            err.print(f"{row.file}: {row.program.name}: {row.verdict}: {row.skipped or row.error}", markup=False)
    counts = {v: sum(1 for r in rows if r.verdict == v) for v in ("accepted", "rejected", "skipped", "error")}
    out.print(", ".join(f"{n} {v}" for v, n in counts.items() if n) + f" ({len(rows)} programs)", markup=False)
