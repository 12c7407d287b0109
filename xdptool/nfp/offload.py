"""The offload pipeline: check, flatten, lower, allocate, link -> an `Image` and its figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..elf.model import Program
from ..errors import XdpError
from . import firmware
from .flatten import flatten
from .image import Image, link
from .lower import lower
from .regalloc import allocate


def build_image(program: Program, contexts="auto", baseline: bool = False) -> Image:
    """Lower and allocate `program` (refusals raise lower.Refused)."""
    obj = program.object
    maps = list(obj.maps) if obj is not None else []
    flat = flatten(program)
    lowered = lower(program, flat, maps)
    if baseline:
        from .baseline import allocate_baseline

        alloc = allocate_baseline(lowered.insns, lowered.labels)
    else:
        alloc = allocate(lowered.insns, lowered.labels, contexts)
    insns = link(alloc.insns, alloc.labels, firmware.SYMBOLS)
    stats = dict(alloc.stats, registers=alloc.used, virtual_insns=len(lowered.insns))
    image = Image(insns, alloc.labels, alloc.contexts, lowered.stack_bytes, alloc.spill_slots, maps,
                  program.name, baseline, stats)
    return image
