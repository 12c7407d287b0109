"""`xdptool replay`: send a pcap/pcapng capture through a program, packet by packet."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager

import click

from ..runtime.engines import TARGETS
from .buildopts import build_args, build_options, runtime_option
from .console import err, fail, json_option, out, print_json, startup_over, stderr_is_terminal, styled, warn

TARGET_CHOICE = click.Choice(TARGETS)
ETH_HLEN = 14  # the shortest frame the kernel's test-run takes (net/bpf/test_run.c: EINVAL below it)
RUNT_REASON = "BPF_PROG_TEST_RUN refuses frames that short (EINVAL) and a NIC drops runts"
PLAIN_PROGRESS_MIN_BYTES = 16 << 20  # without a terminal, only long replays (~200k packets) print progress lines
# glibc's malloc returns the top of its heap to the kernel once twice its mmap threshold is
# free, and both thresholds adapt to the largest block freed (~0.5 MiB here): a replay's
# per-chunk arrays (~3 MiB made and freed per chunk of packets) went back to the kernel and
# were faulted in, zeroed, again every chunk (~5 ms per 1M packets).  The heap keeps them
# (mallopt: M_TRIM_THRESHOLD -1, M_MMAP_THRESHOLD -3); it holds no more than its peak.
MALLOC_SETTINGS = ((-1, 128 << 20), (-3, 32 << 20))


@click.command("replay")
@click.argument("inputs", metavar="[OBJ] CAPTURE", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("-p", "--prog", "selectors", metavar="PROG", multiple=True,
              help="Program name or section when OBJ has several (as in every command).")
@click.option("--target", type=TARGET_CHOICE, help="Engine (default: jit; nfp-emu without OBJ).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write pass/drop/tx/redirect/aborted.pcap here.")
@click.option("--pcapng", "pcapng_out", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write one pcapng with each packet before and after the program (interfaces PROG@entry and "
                   "PROG@exit), commented with its verdict, program, queue and redirect target, as xdpdump "
                   "--rx-capture entry,exit does.")
@click.option("--maps-in", type=click.Path(dir_okay=False), help="Initial map state (JSON, as --maps-out writes).")
@click.option("--maps-out", type=click.Path(dir_okay=False), help="Write the map state after the replay (JSON).")
@json_option("Print one JSON document: the summary and the maps (per-packet records: --jsonl; an error: {\"error\": {...}}).")
@json_option("Stream one JSON line per packet, then the summary (an error: one {\"error\": {...}} line).", "jsonl")
@click.option("--trace", "trace_count", type=click.IntRange(min=0), default=0, metavar="N", help="Trace the first N packets on the vm engine.")
@click.option("--ifindex", type=click.IntRange(0, 2**32 - 1), default=1, show_default=True, help="xdp_md.ingress_ifindex.")
@click.option("--rx-queue", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="xdp_md.rx_queue_index.")
@click.option("--run-runts", is_flag=True, help=f"Run frames under {ETH_HLEN} bytes too; by default they are refused and "
              "counted, as BPF_PROG_TEST_RUN refuses them and a NIC drops runts (never run on the kernel).")
@click.option("--compare", "compare_target", type=TARGET_CHOICE, metavar="TARGET", help="Also run on TARGET and report every difference (exit 1 if any).")
@click.option("--state", "state_dir", type=click.Path(file_okay=False), default=".xdptool", show_default=True, help="The emulated NIC's state directory (without OBJ).")
@click.option("--card", "card_name", metavar="CARD", help="nfp-emu: the card the rate estimate is for (agilio-cx-2x10, the default; agilio-cx-2x25; agilio-cx-1x40).")
@click.option("--force", is_flag=True, help="Let --out-dir/--pcapng/--maps-out replace files of another kind, or links (never an input).")
@click.option("--queues", type=click.IntRange(1, 256), default=1, show_default=True, metavar="N",
              help="Spread packets over N receive queues by RSS (Toeplitz), one CPU each (jit: a thread each, vm: a process); on "
                   "nfp-emu the card's N host queues (its firmware's CRC-32 RSS after the program, XDP_PASS only).")
@click.option("--per-queue", is_flag=True, help="nfp-emu, with --out-dir: also write rxq_N.pcap, what each host queue received.")
@click.option("--events", "events_path", type=click.Path(dir_okay=False), metavar="FILE",
              help="nfp-emu: write the perf events the host reader gets (bpf_perf_event_output), one JSON line each.")
@click.option("--sum-shared-maps", is_flag=True,
              help="With --queues: accept a program that changes shared (non-per-CPU) maps; the queues' changes are added up.")
@runtime_option
@build_options
def command(inputs, selectors, card_name, target, out_dir, maps_in, maps_out, as_json, as_jsonl, trace_count,
            ifindex, rx_queue, compare_target, state_dir, force, run_runts, pcapng_out, includes, defines, cflags, queues, sum_shared_maps,
            per_queue, events_path, runtime_path):  # fmt: skip
    """Replay CAPTURE (pcap or pcapng) through a program of OBJ (.o, or .c built first), or
    without OBJ through the program offloaded to the emulated NIC; map state carries
    across packets.  As `bpftool prog run PROG data_in FILE`: the program, then the data."""
    from ..replay.pcap import CaptureStream, read_capture
    from ..runtime.target import program_target, write_maps_file
    from ..runtime.contract import XdpContext

    obj_path, capture_path, selector = replay_operands(inputs, selectors)
    keep_freed_memory()
    check_card(card_name, target, obj_path)
    if as_json and as_jsonl:
        fail("--json and --jsonl are exclusive")
    if compare_target and (out_dir or maps_out or as_jsonl or pcapng_out):
        fail("--compare reports differences only; it does not take --out-dir, --pcapng, --maps-out or --jsonl")
    if queues > 1 and compare_target:
        fail("--compare runs one queue; it does not take --queues")
    if sum_shared_maps and queues == 1:
        fail("--sum-shared-maps is for --queues N > 1 (one queue has one copy of every map)")
    if obj_path is None:
        if selector or maps_in:
            fail("-p and --maps-in need OBJ (the offloaded image has its own maps): xdptool replay OBJ CAPTURE")
        from ..replay.session import offloaded_target

        chosen = offloaded_target(state_dir)
    else:
        chosen = program_target(obj_path, selector, target or "jit", maps_in, build_args(includes, defines, cflags))
    if target and obj_path is None:
        chosen = chosen.with_engine(target)
    if runtime_path:
        chosen = chosen.with_runtime(runtime_path)
    from ..replay.card_options import check_card_options, is_card

    card_queues = check_card_options(chosen, queues, per_queue, out_dir, events_path, compare_target, sum_shared_maps)
    if card_queues:
        queues = 1  # the card's host queues are its datapath's, in this process
    conflict = chosen.queue_conflict(queues) if queues > 1 else None
    if conflict:
        fail(conflict)
    inputs = replay_inputs(capture_path, chosen, obj_path, maps_in, state_dir) + [runtime_path]
    if maps_out:
        from ..files import check_output
        from ..replay.outputs import VERDICT_FILES

        produced = [os.path.join(out_dir, name) for name in VERDICT_FILES.values()] if out_dir else []
        produced.extend([pcapng_out, events_path])
        # --maps-out may name the --maps-in file (state carried from replay to replay): it is
        # read whole before the replay and replaced atomically after it
        check_output(maps_out, "json", [p for p in inputs if p != maps_in], force, produced)
    ctx = XdpContext(ingress_ifindex=ifindex, rx_queue_index=rx_queue)
    if compare_target or trace_count or queues > 1:
        startup_over()  # Python engines run packets from here on (the queues' workers are forked with it on)
    if compare_target:
        capture = read_capture(capture_path)  # both sides run each chunk in lockstep
        for line in capture.warnings:
            warn(line)
        if trace_count:
            show_traces(chosen, capture, ctx, trace_count)
        raise SystemExit(run_compare(chosen, compare_target, capture, ctx, as_json, run_runts))
    if rx_queue and queues > 1:
        fail("--rx-queue names the one queue of a single-queue replay; with --queues each queue has its own")
    if trace_count:
        with CaptureStream(capture_path, trace_count) as head:
            first = next(head.chunks(), None)
        if first is not None:
            show_traces(chosen, first, ctx, trace_count)

    from ..replay.driver import replay

    # The capture streams through in chunks: the summary is built as they pass and every
    # sink writes each chunk before the next is read (--json keeps no per-packet record).
    sinks, runner, stream = [], None, None
    try:
        if queues > 1:
            from ..replay.queues import QueueReplay

            runner = QueueReplay(capture_path, chosen, queues, ctx=ctx, sum_shared=sum_shared_maps, run_short=run_runts)
            stream = runner.stream
        else:
            stream = CaptureStream(capture_path)
        if out_dir:
            from ..replay.outputs import OutDirSink

            sinks.append(OutDirSink(out_dir, stream, inputs, force, [maps_out, pcapng_out]))
        if pcapng_out:
            from ..replay.outputs import VERDICT_FILES
            from ..replay.pcapng_writer import BeforeAfterSink

            sinks.append(BeforeAfterSink(pcapng_out, stream, chosen.program.name, rx_queue, inputs=inputs, force=force,
                                         outputs=[maps_out, *(os.path.join(out_dir, n) for n in VERDICT_FILES.values() if out_dir)]))
        if as_jsonl:
            from ..replay.outputs import JsonLinesSink

            sinks.append(JsonLinesSink(sys.stdout))
        if queues > 1:
            with progress_reporter(stream.size, quiet=as_jsonl) as progress:  # after worker processes are forked
                outcome = runner.run(program_name=chosen.program.name, sinks=tuple(sinks), progress=progress)
        else:
            engine, store = chosen.make()
            startup_over()  # the engine is made: the replay's own work begins
            try:
                if is_card(chosen):  # after the program: verdicts, host queues, counters, perf events
                    from ..replay.card import CardSink

                    sinks.append(CardSink(store, stream, card_queues or 1, out_dir if per_queue else None, events_path,
                                          sys.stdout if as_jsonl else None, inputs, force, [maps_out, pcapng_out],
                                          state_dir if obj_path is None else None))
                with progress_reporter(stream.size, quiet=as_jsonl) as progress:
                    outcome = replay(
                        stream, engine, store, program_name=chosen.program.name, target=chosen.name,
                        ctx=ctx, sinks=tuple(sinks), progress=progress, run_short=run_runts,
                    )  # fmt: skip
                add_card_estimate(outcome.summary, engine, card_name, capture_path)
            finally:
                engine.close()
    except BaseException:
        for sink in sinks:
            getattr(sink, "discard", lambda: None)()  # an earlier run's outputs stay as they were
        if runner is not None:
            runner.close()
        raise
    finally:
        if stream is not None:
            stream.close()
    for line in outcome.summary["warnings"]:  # known once the whole capture has streamed through
        warn(line)
    outputs = {path: count for sink in sinks for path, count in getattr(sink, "files", {}).items()}
    if outputs:
        outcome.summary["outputs"] = outputs
    from ..elf.values import MapValues

    maps = MapValues(chosen.object).state(outcome.maps)  # "formatted" through BTF beside the hex
    if maps_out:
        write_maps_file(maps_out, maps)
    if as_json:
        print_json({"summary": outcome.summary, "maps": maps})
    elif not as_jsonl:
        show_summary(outcome.summary, maps)


DEPRECATED_PROG = ("replay --prog OBJ is deprecated: give the object first, `xdptool replay OBJ CAPTURE`; "
                   "-p/--prog selects a program, as in every other command")


def keep_freed_memory() -> None:
    """MALLOC_SETTINGS, where the C library has mallopt (glibc; elsewhere nothing changes)."""
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    for option, value in MALLOC_SETTINGS:
        mallopt(option, value)


def replay_operands(inputs: tuple[str, ...], selectors: tuple[str, ...]) -> tuple[str | None, str, str | None]:
    """(OBJ or None, CAPTURE, program selector) from `[OBJ] CAPTURE` and -p/--prog.

    Before -p/--prog meant a program everywhere, `replay --prog` took the object: a
    --prog value that is an object file (.o, .c or ELF) and no OBJ argument is still
    read that way, with a warning.
    """
    if len(inputs) > 2:
        fail(f"expected [OBJ] CAPTURE, got {len(inputs)} arguments")
    obj_path, capture_path = (None, inputs[0]) if len(inputs) == 1 else inputs
    objects = [s for s in selectors if _is_object_file(s)]
    if obj_path is None and len(objects) == 1:
        warn(DEPRECATED_PROG)
        obj_path = objects[0]
        selectors = tuple(s for s in selectors if s != obj_path)
    if len(selectors) > 1:
        fail("give -p/--prog once")
    if obj_path is None and os.path.isfile(capture_path) and _is_object_file(capture_path):
        fail(f"{capture_path} is an object; give the capture too: xdptool replay OBJ CAPTURE")
    return obj_path, capture_path, (selectors[0] if selectors else None)


def _is_object_file(path: str) -> bool:
    """Named like an object or a source (existing or not), or an ELF file."""
    if path.endswith((".o", ".c")):
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def replay_inputs(capture_path: str, chosen, obj_path: str | None, maps_in: str | None, state_dir: str) -> list:
    """Every file a replay reads: its outputs must be none of them."""
    if obj_path is None:
        from ..nfp.state import state_files

        return [capture_path, chosen.object.path, *state_files(state_dir)]
    built = None
    if obj_path.endswith(".c"):
        from ..toolchain import default_output

        built = default_output(obj_path)
    return [capture_path, obj_path, built, maps_in]


def run_compare(chosen, other: str, capture, ctx, as_json: bool, run_runts: bool = False) -> int:
    from ..replay.compare import Side, compare

    if other == chosen.name:
        fail(f"--compare {other} compares {other} with itself; choose another target")
    first = Side(chosen.name, chosen.make)
    second = Side(other, lambda: chosen.make(other))
    result = compare(capture, first, second, ctx, run_short=run_runts)
    if result.not_run and not as_json:
        warn(f"{result.not_run} frames under {ETH_HLEN} bytes left out: {RUNT_REASON}"
             + ("" if run_runts else " (--run-runts runs them where the kernel is not a side)"))
    if result.not_compared and not as_json:
        warn(f"not compared (the kernel does not report them): {', '.join(result.not_compared)}")
    if as_json:
        print_json(result.as_dict())
    elif result.identical:
        out.print(f"{result.packets} packets: {first.name} and {second.name} agree on every verdict, byte and map entry")
    else:
        for mismatch in result.mismatches:
            out.print(mismatch.describe(result.names), markup=False)
        hidden = result.differing_packets - len({m.index for m in result.mismatches})
        more = f" (first {len(result.mismatches)} differences shown)" if hidden > 0 else ""
        out.print(f"{result.differing_packets} of {result.packets} packets differ between {first.name} and {second.name}{more}")
    return 0 if result.identical else 1


def show_traces(chosen, capture, ctx, count: int) -> None:
    """The vm's instruction trace of the first `count` packets, from the initial map state."""
    from .trace import format_trace

    engine, _store = chosen.make_tracing_vm()
    for index in range(min(count, len(capture))):
        result = engine.run(capture.data(index), ctx)
        err.print(styled((f"packet {index}", "bold"), f" ({len(capture.data(index))} bytes): {result.verdict}"))
        for line in format_trace(result, chosen.program):
            err.print(line, markup=False, highlight=False)


@contextmanager
def progress_reporter(size: int, quiet: bool = False):
    """A rich bar on a colour terminal; a line per tenth of the capture otherwise; nothing
    for short runs.  The callback gets (packets done, fraction of the capture read): a
    streamed capture's packet count is known only at its end."""
    interactive = "NO_COLOR" not in os.environ and stderr_is_terminal()
    if quiet or (not interactive and size < PLAIN_PROGRESS_MIN_BYTES):
        yield None
        return
    if not interactive:
        marks = {"next": 0.1, "printed": 0}

        def plain(done: int, fraction: float) -> None:
            if done > marks["printed"] and (fraction >= marks["next"] or fraction >= 1.0):
                print(f"replayed {done} packets ({fraction:.0%} of the capture)", file=sys.stderr, flush=True)
                marks["next"], marks["printed"] = fraction + 0.1, done

        yield plain
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = ("replay", BarColumn(), TextColumn("{task.fields[packets]:,} packets"), TimeRemainingColumn())
    with Progress(*columns, console=err.console(), transient=True) as bar:
        task = bar.add_task("replay", total=1.0, packets=0)
        yield lambda done, fraction: bar.update(task, completed=fraction, packets=done)


SHOWN_ENTRIES = 4  # changed map entries the summary shows per map


def changed_entries(name: str, change: dict, maps: dict) -> str:
    """The first entries a replay added or changed in map `name`, through BTF where the
    object has it (`53 -> 5`), else as hex."""
    from ..elf.values import render

    keys = [k for kind in ("added", "changed") for k in change.get("keys", {}).get(kind, [])]
    by_key = {e["key"]: e for e in maps.get(name, [])}
    shown = []
    for key in keys[:SHOWN_ENTRIES]:
        entry = by_key.get(key)
        if entry is None:
            continue
        formatted = entry.get("formatted")
        shown.append(f"{render(formatted['key'])} -> {render(formatted['value'])}" if formatted
                     else f"{key} -> {render(entry['value'])}")
    more = ", ..." if len(keys) > SHOWN_ENTRIES else ""
    return f" ({', '.join(shown)}{more})" if shown else ""


def show_summary(summary: dict, maps: dict | None = None) -> None:
    from rich.table import Table

    rate = summary["packets_per_second"]
    out.print(
        f"replayed {summary['packets']} packets from {summary['capture']} through {summary['program']} "
        f"on {summary['target']} in {summary['seconds']:.3f} s" + (f" ({rate:,} packets/s)" if rate else ""),
        markup=False,
    )
    table = Table("verdict", "packets", box=None, pad_edge=False)
    for verdict, count in summary["verdicts"].items():
        if count:
            table.add_row(verdict, str(count))
    refused = summary["short_packets"].get("not_run", 0)
    if refused:
        table.add_row("refused (runt)", str(refused))
    out.print(table)
    out.print(f"bytes in {summary['bytes_in']}, bytes out {summary['bytes_out']}", markup=False)
    for name, change in summary["map_changes"].items():
        parts = [f"{change[k]} {k}" for k in ("added", "changed", "removed") if change[k]]
        out.print(f"map {name}: {', '.join(parts)}{changed_entries(name, change, maps or {})}", markup=False)
    if summary.get("queues"):  # --queues N on a host engine
        spread = summary["queues"]
        per_queue = ", ".join(f"queue {q}: {n}" for q, n in enumerate(spread["packets"]))
        out.print(f"{spread['count']} receive queues by RSS ({spread['hash']}), run by {spread['workers']}: {per_queue}",
                  markup=False)
        if spread["shared_maps_summed"]:
            out.print(f"shared maps the queues' changes were added up in: {', '.join(spread['shared_maps_summed'])}",
                      markup=False)
    if summary.get("selected_queues"):  # the program chose rx queues (an offloaded rx_queue_index write)
        chosen = ", ".join(f"queue {q}: {n}" for q, n in summary["selected_queues"].items())
        out.print(f"queues selected by the program: {chosen}", markup=False)
    faults = summary["faults"]
    for fault in faults["first"]:
        where = f" ({fault['line']})" if fault["line"] else ""
        out.print(f"fault: packet {fault['index']} at insn {fault['insn']}{where}: {fault['message']}", markup=False)
    if faults["count"] > len(faults["first"]):
        out.print(f"... {faults['count']} faults in all, each counted as XDP_ABORTED", markup=False)
    short = summary["short_packets"]
    if short["count"]:
        listed = ", ".join(map(str, short["first"]))
        if short.get("not_run"):
            ran = short["count"] - short["not_run"]
            warn(f"{short['not_run']} frames under {ETH_HLEN} bytes refused (records {listed}): {RUNT_REASON}"
                 + (f"; {ran} run" if ran else "; --run-runts runs them" if summary["target"] != "kernel" else ""))
        else:
            warn(f"{short['count']} frames under {ETH_HLEN} bytes run (records {listed}, --run-runts): {RUNT_REASON}, "
                 "so their results and map changes are not what a kernel would show")
    if summary.get("card"):
        from ..replay.card import card_lines

        for line in card_lines(summary["card"]):
            out.print(line, markup=False)
    for path, count in summary.get("outputs", {}).items():
        out.print(f"wrote {count} packets to {path}", markup=False)
    show_card_estimate(summary.get("estimate"))


def check_card(card_name: str | None, target: str | None, obj_path: str | None) -> None:
    """--card is nfp-emu's: a wrong name lists the profiles (exit 2) before anything runs."""
    if card_name is None:
        return
    from ..nfp.card import card_named

    card_named(card_name)
    if (target or ("jit" if obj_path else "nfp-emu")) != "nfp-emu":
        fail("--card sets the card nfp-emu's rate estimate is for; give --target nfp-emu (or no OBJ)")


def add_card_estimate(summary: dict, engine, card_name: str | None, capture_path: str) -> None:
    """nfp-emu: cycles per packet per verdict from the executor's counts on this capture and the
    card's modelled rate for that traffic (nfp/card.py), as summary["estimate"]."""
    if getattr(engine, "estimate", None) is None or not summary["packets"]:
        return
    summary["estimate"] = engine.estimate(card_name, f"{capture_path} as captured, on one port, "
                                                     "the card's maps as they were",
                                          host_queues=(summary.get("card") or {}).get("queues"))


def show_card_estimate(estimate: dict | None) -> None:
    if not estimate:
        return
    out.print(f"card estimate: {estimate['mpps']} Mpps on {estimate['card_title']} for this traffic, bound by "
              f"{estimate['bottleneck_text']} (line rate {estimate['line_rate_mpps']} Mpps; "
              f"{estimate['cycles_per_packet']} ME cycles per packet, {estimate['threads']} threads x "
              f"{estimate['mes']} MEs)", markup=False)
    for verdict, row in estimate["verdicts"].items():
        out.print(f"  {verdict:<12} {row['packets']} packets, {row['instructions']} instructions, "
                  f"{row['issue_cycles']} issue + {row['wait_cycles']} wait cycles per packet; "
                  f"alone {row['mpps']} Mpps ({row['bottleneck']})", markup=False)
    from ..replay.card import queue_estimate_lines

    for line in queue_estimate_lines(estimate):
        out.print(line, markup=False)
