"""`NfpEngine`: the engine contract for target "nfp-emu" - the offloaded image on the executor.

The image is the kernel JIT's (kernel_jit.py) unless the engine is asked for our
allocator's what-if (`allocator="xdptool"`, or a state directory offloaded with it).
The program is offloaded once per engine (check, lower, allocate); a program
the card refuses cannot make an engine (XdpError with the driver's reason).
Packets go to the ME's threads in turn, as the card's dispatcher would, so
every thread's registers and LM area get used.  Map state lives in the shared
MapStore; `last_stats` is the executor's counts for the last packet, `traffic`
their sums per verdict class over every packet run, and `estimate(card)` the
card's rate for that traffic (card.py).  Built from a state directory (state.py), the engine
checks the image against the one offloaded and saves the maps back on close().

Offloading runs the verifier, which can take seconds on loops; reports are
cached per program object and contexts setting.
"""

from __future__ import annotations

import os
from typing import Sequence

from ..elf.model import Program
from ..errors import XdpError
from ..runtime.config import RuntimeConfig
from ..runtime.contract import PackedEngine, RunResult, XdpContext
from ..runtime.maps import MapStore
from . import card
from .executor import Executor
from .offload import offload

_REPORTS: dict[tuple[int, str, str], tuple[Program, object]] = {}


def offload_cached(program: Program, contexts: str = "auto", allocator: str = "kernel"):
    key = (id(program), str(contexts), allocator)
    hit = _REPORTS.get(key)
    if hit is None or hit[0] is not program:
        if len(_REPORTS) > 64:
            _REPORTS.clear()
        hit = _REPORTS[key] = (program, offload(program, contexts, allocator=allocator, compare=False,
                                                estimate=False))
    return hit[1]


NATIVE_OFF = "XDPTOOL_NFP_INTERPRET"  # =1: batches run on the executor too (the reference)


class NfpEngine(PackedEngine):
    name = "nfp-emu"

    def __init__(self, program: Program, maps: MapStore | None = None, config: RuntimeConfig | None = None,
                 contexts="auto", report=None, state_dir: str | None = None, allocator: str | None = None,
                 native: bool = True, **_ignored):
        self.config = config or (maps.config if maps is not None else RuntimeConfig())
        self.maps = maps if maps is not None else MapStore.for_object(program.object, self.config)
        self.program = program
        if allocator is None:
            allocator = _offloaded_allocator(state_dir) if state_dir is not None else "kernel"
        if allocator == "kernel" and str(contexts) == "8":
            contexts = "4"  # a what-if's setting: the kernel image runs the firmware's 4
        self.report = report or offload_cached(program, str(contexts), allocator)
        if not self.report.offloaded:
            raise XdpError(f"nfp-emu: {program.name} cannot be offloaded: {self.report.reasons[0]}")
        self.image = self.report.image
        self.state_dir = state_dir
        if state_dir is not None:
            from . import state

            state.check_image(state.offloaded(state_dir) or {}, self.image)
        self.executor = Executor(self.image, self.maps, self.config)
        self.next_thread = 0
        self.last_stats = None
        self.traffic = card.Traffic("the packets run on this engine")
        self.native = None  # native.NativeRunner: batches run natively (run() stays on the executor)
        if native and os.environ.get(NATIVE_OFF, "") in ("", "0"):
            from .native import NativeRunner, compile_image

            compiled = compile_image(self.image, self.maps)
            if compiled is not None:
                self.native = NativeRunner(compiled, self.image, self.maps, self.config)

    def run(self, packet: bytes, ctx: XdpContext | None = None) -> RunResult:
        thread = self.next_thread
        self.next_thread = (thread + 1) % self.image.contexts
        result, stats = self.executor.run(packet, ctx, thread)
        self.last_stats = stats
        self._last_queue = result.rx_queue
        events = sum(len(e.get("data", "")) // 2 for e in result.events) if result.events else 0
        self.traffic.add(stats, result.verdict, len(packet), len(result.packet), events)
        return result

    def run_batch(self, packets: Sequence[bytes], ctx: XdpContext | None = None) -> list[RunResult]:
        if self.native is None:
            return [self.run(p, ctx) for p in packets]
        from array import array

        offsets, lengths, at = array("Q"), array("I"), 0
        for packet in packets:
            offsets.append(at)
            lengths.append(len(packet))
            at += len(packet)
        packed = self.run_packed(b"".join(packets), offsets, lengths, ctx)
        results = [packed.result(i) for i in range(len(packets))]
        for result, queue in zip(results, packed.rx_queues):
            result.rx_queue = queue if queue >= 0 else None
        return results

    def run_packed(self, buffer, offsets, lengths, ctx: XdpContext | None = None):
        """The bulk API (runtime/jit/packed.py): natively when the image compiles (native.py), with
        `rx_queues` (the queue each packet selected, -1 for none) beside the usual arrays."""
        from ..runtime.jit.packed import PackedResults

        if self.native is None:
            view = memoryview(buffer)
            results = [self.run(bytes(view[o:o + n]), ctx) for o, n in zip(offsets, lengths)]
            return PackedResults.from_results(results)
        packed, queues, self.next_thread = self.native.run(buffer, offsets, lengths, self.next_thread, self.traffic,
                                                           ctx)
        packed.rx_queues = queues
        return packed

    def close(self) -> None:
        """Save the card's maps to the state directory it was loaded from (if any)."""
        if self.state_dir is not None:
            from . import state

            state.save_maps(self.state_dir, self.maps.dump())

    @property
    def rx_queue(self) -> int | None:
        """The queue the last packet selected (a write to xdp_md.rx_queue_index), if any."""
        return getattr(self, "_last_queue", None)

    def estimate(self, card_name: str | None = None, description: str | None = None,
                 host_queues: dict | None = None) -> dict:
        """The card's rate for every packet run so far (card.estimate; {} before the first), with
        each host queue's share when the datapath's queue counts are given."""
        if description:
            self.traffic.description = description
        return card.estimate(self.traffic, card_name, self.image.contexts, host_queues=host_queues)


def _offloaded_allocator(state_dir: str) -> str:
    """The allocator the state directory's image was built with (the kernel JIT when unsaid)."""
    from . import state

    document = state.offloaded(state_dir) or {}
    image = (document.get("report") or {}).get("image") or {}
    return image.get("allocator", "kernel")
