"""`xdptool run`: one packet through a program, with a before/after view of it."""

from __future__ import annotations

import click

from ..errors import XdpError
from .buildopts import build_args, build_options, runtime_option
from .console import err, json_option, out, parse_hex, print_json, styled
from .replay import ETH_HLEN, RUNT_REASON, TARGET_CHOICE
from .trace import format_trace

BYTES_PER_LINE = 16
MAX_REPEAT = 100_000_000  # the kernel accepts any u32; this keeps a typo from running for hours


@click.command("run")
@click.argument("obj_path", metavar="OBJ", type=click.Path(dir_okay=False))
@click.option("--packet", "packet_hex", metavar="HEX", help="The packet as hex bytes.")
@click.option("--scapy", "scapy_expr", metavar="EXPR", help='The packet as a scapy expression, e.g. "Ether()/IP()/UDP()".')
@click.option("-p", "--prog", "selector", metavar="PROG", help="Program name or section when OBJ has several.")
@click.option("--target", type=TARGET_CHOICE, default="jit", show_default=True, help="Engine.")
@click.option("--trace", is_flag=True, help="Print each executed instruction and the registers it changed (vm).")
@click.option("--repeat", type=click.IntRange(1, MAX_REPEAT), metavar="N",
              help="Also time N runs (from the same initial maps): mean ns per run on the target, and the "
                   "kernel's own figure for the same program (BPF_PROG_TEST_RUN repeat N, as `bpftool prog run "
                   "... repeat N`) where the kernel is reachable.")
@click.option("--maps-in", type=click.Path(dir_okay=False), help="Initial map state (JSON).")
@click.option("--run-runts", is_flag=True, help=f"Run a frame under {ETH_HLEN} bytes; by default it is refused, as "
              "BPF_PROG_TEST_RUN refuses it and a NIC drops runts.")
@click.option("--ifindex", type=click.IntRange(0, 2**32 - 1), default=1, show_default=True, help="xdp_md.ingress_ifindex.")
@click.option("--rx-queue", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True, help="xdp_md.rx_queue_index.")
@build_options
@runtime_option
@json_option()
def command(obj_path, packet_hex, scapy_expr, selector, target, trace, repeat, maps_in, run_runts, ifindex, rx_queue,
            includes, defines, cflags, as_json, runtime_path):
    """Run one packet through a program in OBJ and show what it did to the packet."""
    from ..packets import scapy_bytes
    from ..runtime.target import program_target
    from ..runtime.contract import XdpContext

    if (packet_hex is None) == (scapy_expr is None):
        raise XdpError("give the packet with exactly one of --packet HEX or --scapy EXPR")
    packet = parse_hex(packet_hex, "--packet", shown=40) if packet_hex is not None else scapy_bytes(scapy_expr)
    chosen = program_target(obj_path, selector, target, maps_in, build_args(includes, defines, cflags))
    if runtime_path:
        chosen = chosen.with_runtime(runtime_path)
    if len(packet) < ETH_HLEN and not run_runts:
        raise XdpError(f"the packet is {len(packet)} bytes, under the {ETH_HLEN}-byte Ethernet header: refused, as "
                       f"{RUNT_REASON}; --run-runts runs it anyway")
    ctx = XdpContext(ingress_ifindex=ifindex, rx_queue_index=rx_queue)
    engine, store = chosen.make()
    try:
        before = store.dump()
        result = engine.run(packet, ctx)
        after = store.dump()
    finally:
        engine.close()
    traced = trace_run(chosen, packet, ctx) if trace else None
    timing = time_runs(chosen, packet, ctx, repeat) if repeat else None

    from ..replay.results import fault_record, map_changes

    changed = changed_offsets(packet, result.packet)
    if as_json:
        document = {
            "program": chosen.program.name,
            "target": target,
            "verdict": result.verdict,
            "retval": result.retval,
            "data_in": packet.hex(),
            "data_out": bytes(result.packet).hex(),
            "changed_bytes": changed,
            "redirect": result.redirect,
            "fault": fault_record(result.fault) if result.fault else None,
            "trace_printk": result.trace_printk,
            "map_changes": map_changes(before, after),
            "maps": after,
        }
        if traced is not None:
            document["trace"] = format_trace(traced, chosen.program)
        if timing is not None:
            document["repeat"] = timing
        print_json(document)
    else:
        show(chosen, target, packet, result, changed, map_changes(before, after), traced)
        if timing is not None:
            show_timing(timing)
    raise SystemExit(1 if result.fault else 0)


def time_runs(chosen, packet: bytes, ctx, repeat: int) -> dict:
    """Mean ns per run over `repeat` runs on the target (its batch loop: the jit's is
    native) and the kernel's own mean for the same program and packet, each on a fresh
    engine from the initial maps; the kernel's figure is None with the reason when it
    cannot be had (no bpf(2), a packet under 14 bytes, a program it refuses)."""
    from ..errors import XdpError

    doc = {"count": repeat, "target": chosen.name, "ns_per_run": None, "kernel_ns_per_run": None, "kernel_note": None}
    engine, _store = chosen.make()
    try:
        if chosen.name == "kernel":
            doc["ns_per_run"] = engine.time_per_packet_ns(packet, repeat, ctx)
        else:
            doc["ns_per_run"] = round(_timed_runs(engine, packet, ctx, repeat) / repeat, 1)
    finally:
        engine.close()
    if chosen.name == "kernel":
        doc["kernel_ns_per_run"] = doc["ns_per_run"]
        return doc
    from ..runtime.engines import target_available

    available, why = target_available("kernel")
    if not available:
        doc["kernel_note"] = why
        return doc
    try:
        kernel, _store = chosen.make("kernel")
    except XdpError as exc:
        doc["kernel_note"] = f"the kernel does not load it: {exc}"
        return doc
    try:
        doc["kernel_ns_per_run"] = kernel.time_per_packet_ns(packet, repeat, ctx)
    except XdpError as exc:
        doc["kernel_note"] = str(exc)
    finally:
        kernel.close()
    return doc


REPEAT_CHUNK = 1 << 16  # runs per bulk call: bounded memory for any N


def _timed_runs(engine, packet: bytes, ctx, repeat: int) -> int:
    """ns spent in `repeat` runs through the engine's bulk API (the replay's fast path:
    the jit's packet loop is native), else its batch of runs."""
    import time
    from array import array

    from ..runtime.contract import PackedEngine

    elapsed = 0
    for start in range(0, repeat, REPEAT_CHUNK):
        count = min(REPEAT_CHUNK, repeat - start)
        if isinstance(engine, PackedEngine):
            offsets, lengths = array("Q", [0]) * count, array("I", [len(packet)]) * count
            started = time.perf_counter_ns()
            engine.run_packed(packet, offsets, lengths, ctx)
        else:
            batch = [packet] * count
            started = time.perf_counter_ns()
            engine.run_batch(batch, ctx)
        elapsed += time.perf_counter_ns() - started
    return elapsed


def show_timing(timing: dict) -> None:
    count = timing["count"]
    line = f"repeat {count}: {timing['target']} {timing['ns_per_run']} ns per run (mean)"
    if timing["target"] != "kernel":
        kernel = timing["kernel_ns_per_run"]
        line += (f"; kernel {kernel} ns per run (BPF_PROG_TEST_RUN repeat {count}, its own mean)" if kernel is not None
                 else f"; kernel not measured: {timing['kernel_note']}")
    out.print(line, markup=False)


def trace_run(chosen, packet: bytes, ctx):
    """The vm's traced run of the same packet from the same initial maps."""
    engine, _store = chosen.make_tracing_vm()
    return engine.run(packet, ctx)


def changed_offsets(before: bytes, after: bytes) -> list[int]:
    """Offsets of output bytes that differ from the input at the same offset (or are new)."""
    return [i for i, byte in enumerate(after) if i >= len(before) or before[i] != byte]


def hexdump(data: bytes, highlight: set[int]):
    """Hex lines as one Text; highlighted offsets shown in reverse video."""
    parts: list = []
    for base in range(0, len(data), BYTES_PER_LINE):
        parts.append(("\n" if parts else "") + f"  {base:04x} ")
        for i in range(base, min(base + BYTES_PER_LINE, len(data))):
            parts += [" ", (f"{data[i]:02x}", "reverse") if i in highlight else f"{data[i]:02x}"]
    return styled(*(parts or ["  (empty)"]))


def field_changes(before: bytes, after: bytes) -> list[str] | None:
    """"Layer.field: old -> new" per changed field; None when the layers differ (encap, decap...)."""
    from ..packets import layer_fields, dissect  # scapy's flattened fields, as the spec runner compares them

    try:
        old, new = layer_fields(dissect(before)), layer_fields(dissect(after))
    except Exception:  # noqa: BLE001 - undissectable bytes: the caller shows the hex
        return None
    if [k.split(".")[0] for k in old] != [k.split(".")[0] for k in new]:
        return None
    return [f"{key}: {old[key]} -> {new[key]}" for key in old if old[key] != new[key]]


def dissection(data: bytes) -> str:
    if not data:
        return "  (no bytes)"
    from ..packets import dissect

    try:
        return dissect(data).show(dump=True).rstrip()
    except Exception as exc:  # noqa: BLE001 - scapy cannot dissect every byte string; the hex is still shown
        return f"  (scapy cannot dissect these bytes: {exc})"


def show(chosen, target, packet, result, changed, changes, traced) -> None:
    out.print(styled(f"{chosen.program.name} on {target}: ", (str(result.verdict), "bold"), f" (retval {result.retval})"))
    if result.fault is not None:
        err.print(styled(("fault:", "red"), f" {result.fault}"))
    if result.redirect:
        out.print(f"redirect: {result.redirect}", markup=False)
    for line in result.trace_printk:
        out.print(f"trace_printk: {line}", markup=False)
    out.print(styled(("input", "bold"), f" ({len(packet)} bytes)"))
    out.print(dissection(packet), markup=False, highlight=False)
    out.print(hexdump(packet, set()))
    output = bytes(result.packet)
    note = "unchanged" if output == packet else f"{len(changed)} bytes changed, highlighted"
    out.print(styled(("output", "bold"), f" ({len(output)} bytes, {note})"))
    if output != packet:
        fields_changed = field_changes(packet, output) if packet and output else None
        if fields_changed is None:
            out.print(dissection(output), markup=False, highlight=False)
        else:
            for line in fields_changed:
                out.print(f"  {line}", markup=False, highlight=False)
    out.print(hexdump(output, set(changed)))
    for name, change in changes.items():
        parts = [f"{change[k]} {k}" for k in ("added", "changed", "removed") if change[k]]
        out.print(f"map {name}: {', '.join(parts)}", markup=False)
    if traced is not None:
        out.print(styled(("trace", "bold"), " (vm)"))
        for line in format_trace(traced, chosen.program):
            out.print("  " + line, markup=False, highlight=False)
