"""`xdptool verify`: xdptool's static verifier, optionally next to the kernel's."""

from __future__ import annotations

import click

from ..elf.sections import XDP_TYPE_NAMES, retyped, xdp_type
from .console import err, json_option, out, print_json
from ..runtime.target import load_object_or_source as load


def _kernel_verdict(program, log_level: int) -> dict:
    from ..kernel import verify_with_kernel

    verdict = verify_with_kernel(program, log_level=max(log_level, 1))
    return {
        "accepted": verdict.accepted,
        "message": None if verdict.accepted else verdict.last_line,
        "processed_insns": verdict.insn_processed,
        "load_time_ms": round(verdict.load_time_ns / 1e6, 3),
    }


@click.command("verify")
@click.argument("obj", type=click.Path(dir_okay=False))
@click.option("-p", "--prog", "selector", help="Program to verify (name or section) when OBJ has several.")
@click.option("--profile", type=click.Choice(["linux", "nfp"]), default="linux", show_default=True,
              help="linux: a privileged load on a current kernel; nfp: what the NFP offload accepts.")
@click.option("--unprivileged", is_flag=True, help="Check as an unprivileged load (no loops, no pointer leaks).")
@click.option("--log-level", type=click.IntRange(0, 2), default=0, show_default=True,
              help="1: every processed instruction with the registers it touched; 2: full states at branches.")
@click.option("--type", "prog_type", type=click.Choice(XDP_TYPE_NAMES),
              help="Check (and load, with --kernel) as this XDP program type whatever the section says, "
                   "as bpftool's `prog load ... type`: xdp/devmap may read egress_ifindex.")
@click.option("--kernel", "with_kernel", is_flag=True, help="Also load into the running kernel and compare verdicts.")
@json_option()
def command(obj, selector, profile, unprivileged, log_level, prog_type, with_kernel, as_json):
    """Verify a program of OBJ; exit 0 when accepted, 1 when rejected (or, with --kernel,
    when the kernel's verdict differs from xdptool's)."""
    from ..verifier import analyze

    program = load(obj).program(selector)
    if prog_type is not None:
        program = retyped(program, xdp_type(prog_type))
    result = analyze(program, profile, log_level=log_level, unprivileged=unprivileged, collect_facts=False)
    kernel = _kernel_verdict(program, log_level) if with_kernel else None
    agree = kernel is None or kernel["accepted"] == result.accepted
    code = 0 if result.accepted and agree else 1
    if as_json:
        doc = result.as_json()
        doc["program"] = program.name
        doc["profile"] = "unprivileged" if unprivileged and profile == "linux" else profile
        if kernel is not None:
            doc["kernel"] = kernel
            doc["verdicts_agree"] = agree
        print_json(doc)
        raise SystemExit(code)
    if log_level:
        out.print(result.log.rstrip(), markup=False)
    stats = f"processed {result.processed_insns} insns, stack depth {result.stack_depth_total}"
    if result.accepted:
        out.print(f"{program.name}: accepted ({stats})", markup=False)
    else:
        error = result.error
        if not log_level:
            err.print(error.message, markup=False)
            if error.file:
                err.print(f"  {error.file}:{error.line}: {error.source}", markup=False)
        err.print(f"{program.name}: rejected at insn {error.insn} ({stats})", markup=False)
    if kernel is not None:
        ours = "accepted" if result.accepted else f"rejected: {result.error.first_line}"
        theirs = "accepted" if kernel["accepted"] else f"rejected: {kernel['message']}"
        out.print(f"xdptool: {ours}\nkernel:  {theirs}\nverdicts {'agree' if agree else 'DISAGREE'}", markup=False)
    raise SystemExit(code)
