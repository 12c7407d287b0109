"""`xdptool offload`: fit a program onto the emulated NFP SmartNIC and report how it fits."""

from __future__ import annotations

from pathlib import Path

import click

from .buildopts import build_args, build_options
from .console import fail, json_option, out, print_json, warn


@click.command("offload")
@click.argument("obj_path", metavar="OBJ", type=click.Path(dir_okay=False))
@click.option("--target", type=click.Choice(["nfp-emu"]), default="nfp-emu", show_default=True,
              help="The device (the emulated Netronome NFP-4000).")
@click.option("-p", "--prog", "selector", metavar="PROG", help="Program name or section when OBJ has several.")
@click.option("--allocator", type=click.Choice(["kernel", "xdptool"]), default="kernel", show_default=True,
              help="Whose image to load: the kernel JIT's (what the card runs) or xdptool's allocator "
                   "(a what-if with 8 contexts where registers fit; no shipping firmware runs it).")
@click.option("--contexts", type=click.Choice(["auto", "4", "8"]), default="auto", show_default=True,
              help="Threads per microengine for --allocator xdptool (8 needs 16+16 registers without spills); "
                   "the kernel image runs the firmware's 4.")
@click.option("--card", "card_name", metavar="CARD", default="agilio-cx-2x10", show_default=True,
              help="The card the estimate is for: agilio-cx-2x10, agilio-cx-2x25 or agilio-cx-1x40.")
@click.option("--baseline", is_flag=True, hidden=True, help="Old name of --allocator kernel (the default).")
@click.option("-o", "--output", "listing_path", type=click.Path(dir_okay=False), help="Write the NFP assembly listing.")
@click.option("--state", "state_dir", default=".xdptool", show_default=True, type=click.Path(file_okay=False),
              help="The emulated NIC's state directory (image and maps).")
@click.option("--force", is_flag=True, help="Let -o replace a file that is not an earlier listing, or a link.")
@build_options
@json_option()
def command(obj_path, target, selector, allocator, contexts, card_name, baseline, listing_path, state_dir, force, includes, defines, cflags, as_json):
    """Offload a program in OBJ to the NFP: say whether it fits, show its assembly and its speed."""
    from ..nfp import state
    from ..errors import XdpError
    from ..nfp.offload import offload
    from ..nfp.printer import format_image_listing
    from ..runtime.maps import MapStore
    from ..files import atomic_write, check_output
    from ..toolchain import default_output
    from ..runtime.target import load_object_or_source as load

    if listing_path:
        built = default_output(obj_path) if obj_path.endswith(".c") else None
        check_output(listing_path, "listing", [obj_path, built, *state.state_files(state_dir)], force)
    obj = load(obj_path, build_args(includes, defines, cflags))
    program = obj.program(selector)
    if baseline and allocator != "kernel":
        raise XdpError("--baseline is the old name of --allocator kernel; give one of them")
    report = offload(program, contexts, allocator=allocator, card=card_name)
    if report.offloaded:
        listing = format_image_listing(report.image)
        if listing_path:
            try:
                Path(listing_path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                fail(f"{listing_path}: cannot write: {exc.strerror}")
            atomic_write(listing_path, listing)
        try:  # the card keeps its own copy of what it was loaded from (a rebuild does not change the card)
            object_data = Path(obj.path).read_bytes()
        except OSError as exc:
            fail(f"{obj.path}: cannot read: {exc.strerror}")
        state.save_offload(state_dir, obj_path, object_data, report, listing, MapStore.for_object(obj).dump())
    document = dict(report.as_json(), object=obj_path, target=target, state=state_dir if report.offloaded else None)
    if as_json:
        print_json(document)
        raise SystemExit(0 if report.offloaded else 1)
    for warning in report.warnings:
        warn(f"the real card would refuse this: {warning}")
    if not report.offloaded:
        fail(f"{program.name} cannot be offloaded to {target}: {report.reasons[0]}", 1)
    show(document, report)


IMAGE_TITLES = {"kernel": "kernel JIT (runs on the card)", "xdptool": "xdptool allocator (what-if)"}


def show(doc: dict, report) -> None:
    """The chosen image's fit and speed, with both images side by side."""
    image = report.image
    images = doc["images"]
    kernel = images.get("kernel")
    lines = [f"offloaded {doc['program']} ({doc['object']}) to {doc['target']}"]
    if image.allocator == "kernel":
        lines.append("  image             the kernel JIT's (bpf/jit.c): what the driver would load")
    else:
        lines.append(f"  image             xdptool's allocator, {image.contexts} contexts: a what-if, "
                     "not runnable on shipping firmware (4 contexts, GPRs 0-23)")
    if kernel:
        share = 100 * kernel["instructions"] / doc["window"]
        lines.append(f"  firmware window   {kernel['instructions']} of {doc['window']} instructions ({share:.1f} %, "
                     "the kernel image)")
    order = [a for a in ("kernel", "xdptool") if a in images]
    rows = [("", [IMAGE_TITLES[a] for a in order]),
            ("instructions", [str(images[a]["instructions"]) for a in order]),
            ("contexts", [str(images[a]["contexts"]) for a in order]),
            ("registers A/B", [f"{images[a]['registers']['A']}/{images[a]['registers']['B']} of "
                               f"{images[a]['registers_per_bank']}" for a in order]),
            ("spills", [str(images[a]["spills"]) for a in order]),
            ("cycles/packet", [str(images[a]["cycles_per_packet"] or "-") for a in order])]
    for label, cells in rows:
        lines.append(f"  {label:<17} " + "".join(f"{c:<32}" for c in cells).rstrip())
    if len(order) == 2:
        ratio = images["xdptool"]["instructions"] / images["kernel"]["instructions"]
        lines.append(f"  what-if / kernel  {ratio:.2f} of the instructions")
    lines.append(f"  local memory      stack {doc['stack_bytes']} B per thread")
    show_estimate(lines, doc.get("estimate"))
    hint = "replay a capture with `xdptool replay CAPTURE`" if doc["state"] == ".xdptool" else "maps: --state"
    lines.append(f"  state             {doc['state']} ({hint})")
    out.print("\n".join(lines), markup=False)


def show_estimate(lines: list[str], estimate: dict | None) -> None:
    """The card model's answer (nfp/card.py): rate, bottleneck, and the same per verdict class."""
    if not estimate:
        return
    lines.append(f"  estimate          {estimate['mpps']} Mpps on {estimate['card_title']}, bound by "
                 f"{estimate['bottleneck_text']} (line rate {estimate['line_rate_mpps']} Mpps)")
    lines.append(f"  per packet        {estimate['cycles_per_packet']} ME cycles (issue {estimate['issue_cycles']}, "
                 f"memory wait {estimate['wait_cycles']}, {estimate['threads']} threads x {estimate['mes']} MEs)")
    for verdict, row in estimate["verdicts"].items():
        lines.append(f"  {verdict:<17} {100 * row['share']:.0f} % of packets, {row['issue_cycles']} + "
                     f"{row['wait_cycles']} cycles; alone {row['mpps']} Mpps ({row['bottleneck']})")
    if "all_ports" in estimate:
        every = estimate["all_ports"]
        lines.append(f"  all {every['ports']} ports       {every['mpps']} Mpps ({every['bottleneck']})")
    lines.append(f"  traffic           {estimate['traffic']}")
