"""`NfpEngine`: the engine contract for target "nfp-emu" - the offloaded image on the executor.

The program is offloaded once per engine (check, lower, allocate); a program
the card refuses cannot make an engine (XdpError with the driver's reason).
Packets go to the ME's threads in turn, as the card's dispatcher would, so
every thread's registers and LM area get used.  Map state lives in the shared
MapStore; `last_stats` / `timing()` give the executor's counts and the
throughput they imply.
"""

from __future__ import annotations

from typing import Sequence

from ..elf.model import Program
from ..errors import XdpError
from ..runtime.config import RuntimeConfig
from ..runtime.contract import RunResult, XdpContext
from ..runtime.maps import MapStore
from . import timing
from .executor import Executor
from .offload import offload


class NfpEngine:
    name = "nfp-emu"

    def __init__(self, program: Program, maps: MapStore | None = None, config: RuntimeConfig | None = None,
                 contexts="auto", report=None, **_ignored):
        self.config = config or (maps.config if maps is not None else RuntimeConfig())
        self.maps = maps if maps is not None else MapStore.for_object(program.object, self.config)
        self.program = program
        self.report = report or offload(program, contexts, baseline=False, estimate=False)
        if not self.report.offloaded:
            raise XdpError(f"nfp-emu: {program.name} cannot be offloaded: {self.report.reasons[0]}")
        self.image = self.report.image
        self.executor = Executor(self.image, self.maps, self.config)
        self.next_thread = 0
        self.last_stats = None
        self.costs: list[timing.PacketCost] = []

    def run(self, packet: bytes, ctx: XdpContext | None = None) -> RunResult:
        thread = self.next_thread
        self.next_thread = (thread + 1) % self.image.contexts
        result, stats = self.executor.run(packet, ctx, thread)
        self.last_stats = stats
        self.costs.append(timing.packet_cost(stats))
        return result

    def run_batch(self, packets: Sequence[bytes], ctx: XdpContext | None = None) -> list[RunResult]:
        return [self.run(p, ctx) for p in packets]

    def timing(self) -> dict:
        """Cycles per packet and throughput over every packet run so far."""
        return timing.throughput(self.costs, self.image.contexts)
