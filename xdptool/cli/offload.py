"""`xdptool offload`: fit a program onto the emulated NFP SmartNIC and report how it fits."""

from __future__ import annotations

from pathlib import Path

import click

from .console import fail, out, print_json, warn


@click.command("offload")
@click.argument("obj_path", metavar="OBJ", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(["nfp-emu"]), default="nfp-emu", show_default=True,
              help="The device (the emulated Netronome NFP-4000).")
@click.option("-p", "--prog", "selector", metavar="PROG", help="Program name or section when OBJ has several.")
@click.option("--contexts", type=click.Choice(["auto", "4", "8"]), default="auto", show_default=True,
              help="Threads per microengine: 8 needs the program to fit 16+16 registers without spills.")
@click.option("--baseline", is_flag=True, help="Use the kernel JIT's fixed register mapping instead of the allocator.")
@click.option("-o", "--output", "listing_path", type=click.Path(dir_okay=False), help="Write the NFP assembly listing.")
@click.option("--state", "state_dir", default=".xdptool", show_default=True, type=click.Path(file_okay=False),
              help="The emulated NIC's state directory (image and maps).")
@click.option("--force", is_flag=True, help="Let -o replace a file that is not an earlier listing, or a link.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def command(obj_path, target, selector, contexts, baseline, listing_path, state_dir, force, as_json):
    """Offload a program in OBJ to the NFP: say whether it fits, show its assembly and its speed."""
    from ..nfp import state
    from ..errors import XdpError
    from ..nfp.offload import estimate_timing, offload
    from ..nfp.printer import format_image_listing
    from ..runtime.maps import MapStore
    from ..files import atomic_write, check_output
    from ..toolchain import default_output
    from ..runtime.target import load_object_or_source as load

    if listing_path:
        built = default_output(obj_path) if obj_path.endswith(".c") else None
        check_output(listing_path, "listing", [obj_path, built, *state.state_files(state_dir)], force)
    obj = load(obj_path)
    program = obj.program(selector)
    report = offload(program, contexts)
    if report.offloaded and baseline:
        if report.baseline is None:
            raise XdpError(f"{program.name}: the kernel JIT's fixed mapping cannot hold this program's registers")
        report.image = report.baseline
        report.timing = estimate_timing(report.image, program)
    if report.offloaded:
        listing = format_image_listing(report.image)
        if listing_path:
            try:
                Path(listing_path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                fail(f"{listing_path}: cannot write: {exc.strerror}")
            atomic_write(listing_path, listing)
        state.save_offload(state_dir, obj_path, report, listing, MapStore.for_object(obj).dump())
    document = dict(report.as_json(), object=obj_path, target=target, state=state_dir if report.offloaded else None)
    if as_json:
        print_json(document)
        raise SystemExit(0 if report.offloaded else 1)
    for warning in report.warnings:
        warn(f"the real card would refuse this: {warning}")
    if not report.offloaded:
        fail(f"{program.name} cannot be offloaded to {target}: {report.reasons[0]}", 1)
    show(document, report)


def show(doc: dict, report) -> None:
    image = report.image
    lines = [f"offloaded {doc['program']} ({doc['object']}) to {doc['target']}"]
    share = 100 * doc["nfp_instructions"] / doc["window"]
    lines.append(f"  NFP instructions  {doc['nfp_instructions']} of {doc['window']} ({share:.1f} %)")
    base = doc.get("baseline")
    if base:
        gain = 100 * (1 - doc["nfp_instructions"] / base["nfp_instructions"])
        lines.append(f"  kernel JIT map    {base['nfp_instructions']} instructions, {base['contexts']} contexts "
                     f"({gain:.0f} % fewer with the allocator)")
    regs = doc["registers"]
    lines.append(f"  contexts          {doc['contexts']} per ME ({image.regs_per_bank} A + {image.regs_per_bank} B "
                 f"registers per thread)")
    lines.append(f"  registers used    A {regs['A']}, B {regs['B']}; spills {doc['spills']}; "
                 f"moves coalesced {doc['coalesced_moves']}")
    lines.append(f"  local memory      {doc['lm_bytes']} B per thread (stack {doc['stack_bytes']} B)")
    timing = doc.get("timing")
    if timing:
        rates = ", ".join(f"{name} " + ("line rate" if r["reached"] else f"{100 * r['share']:.0f} %")
                          for name, r in timing["line_rate"].items())
        lines.append(f"  estimated         {timing['cycles_per_packet']} cycles/packet "
                     f"(issue {timing['issue_cycles']}, memory wait {timing['wait_cycles']}; "
                     f"{timing['packets']} sample frames), {timing['card_mpps']} Mpps on 50 MEs")
        lines.append(f"  vs line rate      {rates}")
    hint = "replay a capture with `xdptool replay CAPTURE`" if doc["state"] == ".xdptool" else "maps: --state"
    lines.append(f"  state             {doc['state']} ({hint})")
    out.print("\n".join(lines), markup=False)
