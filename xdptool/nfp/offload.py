"""The offload pipeline: check, lower -> an `Image`, and its report.

Two images of one program: the kernel JIT's (kernel_jit.py: what the nfp driver
loads, the default, and the one the firmware window is checked on) and our
allocator's what-if (flatten, lower, merge, regalloc, schedule: 8 contexts
where the registers fit - no shipping firmware runs that).  `allocator` picks
the one the report, the listing and nfp-emu use; `compare` builds the other
for the side-by-side figures.

`offload(program, contexts, allocator, firmware)` never raises for a program the
card refuses: the report says `offloaded: false` with the driver's reasons (the
verifier's nfp profile decides, check.py).  It raises XdpError only for bad input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..elf.model import Program, ProgType
from ..errors import XdpError
from ..platform import nfp_driver as driver
from . import card as cards
from . import firmware
from .check import Reason, size_reasons, verifier_reasons
from .flatten import flatten
from .kernel_jit import build_kernel_image
from .image import BPF_WINDOW, LM_STACK_OFFSET, Image, link, lm_area_bytes
from .lower import Refused, lower
from .merge import merge_reads
from .regalloc import allocate
from .schedule import fill_defer_slots


ALLOCATORS = ("kernel", "xdptool")


def build_image(program: Program, contexts="auto", allocator: str = "kernel",
                facts: dict | None = None) -> tuple[Image, list[Refused]]:
    """`program`'s image by `allocator` (lowering refusals raise lower.Refused); returns warnings too."""
    if allocator == "kernel":
        return build_kernel_image(program, facts), []
    if allocator != "xdptool":
        raise XdpError(f"allocator must be one of {', '.join(ALLOCATORS)}, not {allocator!r}")
    obj = program.object
    maps = list(obj.maps) if obj is not None else []
    try:
        flat = flatten(program)
    except Refused:
        raise
    except XdpError as exc:
        raise Refused(str(exc)) from None
    lowered = lower(program, flat, maps, facts)
    needed = LM_STACK_OFFSET + lowered.stack_bytes
    if str(contexts) in ("auto", "8") and needed > lm_area_bytes(8):
        if str(contexts) == "8":
            raise Refused(f"8 contexts leave {lm_area_bytes(8)} B of local memory per thread; "
                          f"the program needs {needed} B (its stack is {lowered.stack_bytes} B)")
        contexts = "4"  # the stack decides before the registers do
    lowered.insns, lowered.labels, merged = merge_reads(lowered.insns, lowered.labels)
    alloc = allocate(lowered.insns, lowered.labels, contexts)
    insns, labels = fill_defer_slots(alloc.insns, alloc.labels)
    insns = link(insns, labels, firmware.SYMBOLS)
    stats = dict(alloc.stats, registers=alloc.used, virtual_insns=len(lowered.insns), merged_loads=merged)
    image = Image(insns, alloc.labels, alloc.contexts, lowered.stack_bytes, alloc.spill_slots, maps,
                  program.name, stats=stats, allocator="xdptool")
    return image, lowered.warnings


def image_summary(image: Image, estimate: dict | None) -> dict:
    """One image's figures for the side-by-side report."""
    return {"allocator": image.allocator, "instructions": len(image.insns), "contexts": image.contexts,
            "registers": image.stats["registers"], "registers_per_bank": image.regs_per_bank,
            "spills": image.spill_slots, "runs_on_card": image.allocator == "kernel",
            "cycles_per_packet": estimate["cycles_per_packet"] if estimate else None}


def _ipv4(proto: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, 0, 64, proto, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return ip + l4


DEFAULT_TRAFFIC = ("64-byte frames (60 B + FCS): IPv4 UDP, IPv4 TCP SYN and ARP in turn, on one port, "
                   "the maps as offloaded")


def sample_packets() -> list[bytes]:
    """The default traffic of the estimate (DEFAULT_TRAFFIC): minimum-size frames, as the
    published line-rate tests use (RFC 2544)."""
    eth = bytes.fromhex("020000000002" "020000000001")
    udp = struct.pack("!HHHH", 40000, 53, 8 + 18, 0) + bytes(18)
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x02, 65535, 0, 0)
    arp = bytes.fromhex("0001080006040001") + bytes(20)
    frames = [eth + b"\x08\x00" + _ipv4(17, udp), eth + b"\x08\x00" + _ipv4(6, tcp), eth + b"\x08\x06" + arp]
    return [f.ljust(60, b"\0")[:60] for f in frames]


@dataclass
class OffloadReport:
    program: str
    offloaded: bool
    reasons: list[Reason] = field(default_factory=list)
    warnings: list[Reason] = field(default_factory=list)
    image: Image | None = None  # the chosen allocator's image: the listing, the state, nfp-emu
    kernel: Image | None = None  # the kernel JIT's image: what the firmware window is checked on
    what_if: Image | None = None  # our allocator's image, when built
    estimate: dict | None = None  # card.estimate of the chosen image on the default traffic
    estimates: dict = field(default_factory=dict)  # allocator -> estimate, for the side-by-side figures
    firmware: str = driver.DEFAULT_FIRMWARE.name

    def as_json(self) -> dict:
        image = self.image
        doc = {
            "program": self.program,
            "offloaded": self.offloaded,
            "reasons": [r.as_json() for r in self.reasons],
            "warnings": [w.as_json() for w in self.warnings],
            "image": ({"instructions": len(image.insns), "contexts": image.contexts,
                       "allocator": image.allocator, "runs_on_card": image.allocator == "kernel"}
                      if image else None),
            "images": {i.allocator: image_summary(i, self.estimates.get(i.allocator))
                       for i in (self.kernel, self.what_if) if i is not None},
            "mapping": image.allocator if image else None,
            "nfp_instructions": len(image.insns) if image else None,
            "window": BPF_WINDOW,
            "contexts": image.contexts if image else None,
            "registers": image.stats["registers"] if image else None,
            "registers_per_bank": image.regs_per_bank if image else None,
            "spills": image.spill_slots if image else None,
            "lm_bytes": image.lm_bytes if image else None,
            "stack_bytes": image.stack_bytes if image else None,
            "coalesced_moves": image.stats.get("coalesced_moves") if image else None,
            "bank_fixups": image.stats.get("bank_fixups") if image else None,
            "baseline": ({"nfp_instructions": len(self.kernel.insns), "contexts": self.kernel.contexts,
                          "registers": self.kernel.stats["registers"]} if self.kernel else None),
            "estimate": self.estimate,
            "firmware": self.firmware,
        }
        return doc


# After the nfp profile accepted the program, a refusal is nfp-emu's, not the driver's.
LOWERING_LIMIT = "xdptool's lowering cannot express this yet; the nfp driver accepts the program"


def _reasons(items: list[Refused]) -> list[Reason]:
    return [Reason.at(r.message, r.pc, r.line) for r in items]


def offload(program: Program, contexts="auto", *, allocator: str = "kernel", compare: bool = True,
            estimate: bool = True, verify: bool = True, firmware=None, card: str | None = None) -> OffloadReport:
    if contexts not in ("auto", "4", "8", 4, 8):
        raise XdpError(f"contexts must be auto, 4 or 8, not {contexts!r}")
    contexts = str(contexts)
    fw = driver.firmware_named(firmware)
    profile = cards.card_named(card)  # a wrong name is bad input even for a refused program
    report = OffloadReport(program.name, False, firmware=fw.name)
    if program.type not in (ProgType.XDP, ProgType.UNSPEC):
        report.reasons.append(Reason(f"program type {program.type_name} cannot be offloaded (XDP only)"))
        return report
    facts = None
    if verify:
        report.reasons, facts = verifier_reasons(program, fw)
        if report.reasons:
            return report
    try:
        image, warnings = build_image(program, contexts, facts=facts)
    except Refused as refused:
        report.reasons = _reasons([refused])
        if verify:
            report.reasons[0].detail = LOWERING_LIMIT
        return report
    except XdpError as exc:
        if not verify:
            raise
        report.reasons = [Reason(str(exc), detail=LOWERING_LIMIT)]  # an emulator gap, not bad input
        return report
    report.warnings = _reasons(warnings)
    report.reasons = size_reasons(len(image.insns), fw)
    report.image = report.kernel = image
    report.offloaded = not report.reasons
    if allocator not in ALLOCATORS:
        raise XdpError(f"allocator must be one of {', '.join(ALLOCATORS)}, not {allocator!r}")
    if allocator == "kernel" and contexts == "8":
        raise XdpError("the kernel JIT's image runs 4 contexts (the shipping firmware's); "
                       "8 contexts are a what-if of --allocator xdptool")
    if allocator == "xdptool" or compare:
        try:
            report.what_if, what_if_warnings = build_image(program, contexts, "xdptool", facts=facts)
        except XdpError as exc:
            if allocator == "xdptool":
                raise XdpError(f"{program.name}: xdptool's allocator cannot build this program: {exc}") from None
            report.what_if = None
        if allocator == "xdptool":
            report.image = report.what_if
            report.warnings = _reasons(what_if_warnings)
    if estimate and report.offloaded:
        for other in (report.kernel, report.what_if):
            if other is not None:
                report.estimates[other.allocator] = estimate_default(other, program, profile)
        report.estimate = report.estimates[report.image.allocator]
    return report


def estimate_default(image: Image, program: Program, card: cards.CardProfile,
                     packets: list[bytes] | None = None) -> dict:
    """The card's rate for `packets` (the default traffic) on a scratch copy of the maps."""
    from ..runtime.maps import MapStore
    from .executor import Executor

    store = MapStore.for_object(program.object) if program.object is not None else MapStore({})
    executor = Executor(image, store)
    traffic = cards.Traffic(DEFAULT_TRAFFIC if packets is None else f"{len(packets)} given packets")
    for index, packet in enumerate(packets or sample_packets()):
        result, stats = executor.run(packet, thread=index % image.contexts)
        events = sum(len(e.get("data", "")) // 2 for e in result.events)
        traffic.add(stats, result.verdict, len(packet), len(result.packet), events)
    return cards.estimate(traffic, card, image.contexts)
