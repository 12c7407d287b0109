"""Drive an engine over a capture: every packet in order, map state carried across.

The capture is read as a stream of chunks (pcap.CaptureStream: memory does not
grow with the capture); each chunk goes to the engine in the fastest form it
offers — the compiled engine's bulk `run_packed` (packets stay in the chunk's
buffer), else `run_batch` — and comes back as a `Chunk` for the summary and the
sinks, which consume it before the next chunk is read.  Map state lives in the
engine's map store and is never reset between packets or chunks.
"""


import os
import threading
import time
from typing import Any, NamedTuple, Callable, Iterator

from ..errors import XdpError
from ..runtime.contract import PackedEngine, XdpContext
from .pcap import CHUNK_PACKETS, Capture, CaptureStream, linktype_problem
from .results import Chunk, SummaryBuilder

# CHUNK_PACKETS: packets per engine call; the progress bar moves once per chunk
# BPF_PROG_TEST_RUN answers EINVAL for packets under ETH_HLEN (net/bpf/test_run.c,
# bpf_test_init): on these engines such packets are left out, and the summary says so.
REFUSES_SHORT_PACKETS = {"kernel"}

Progress = Callable[[int, float], None]  # (packets done, fraction of the capture read)


class ReplayOutcome(NamedTuple):
    """What a replay gives back: the summary and the maps after it."""

    summary: dict[str, Any]
    maps: dict[str, list]  # map state after the replay, MapStore.dump() form


def check_linktype(capture: Capture | CaptureStream) -> None:
    """XDP programs see Ethernet frames; other link types would be misparsed silently."""
    problem = linktype_problem(capture.path, capture.linktype)
    if problem and (not isinstance(capture, Capture) or len(capture)):
        raise XdpError(problem)


def runnable(capture: Capture, *engines, run_short: bool = True) -> Capture:
    """The packets every one of `engines` accepts (all but runts on the kernel); with
    run_short=False runts are left out on every engine, as a NIC drops them and the
    kernel's test-run refuses them (the CLI's default: `--run-runts` runs them)."""
    if not run_short or any(getattr(engine, "name", None) in REFUSES_SHORT_PACKETS for engine in engines):
        return capture.without_short()
    return capture


def chunk_runner(engine) -> Callable[[Capture, int, int, XdpContext], Chunk]:
    """The fastest way this engine offers to run packets start..stop of a capture."""
    if isinstance(engine, PackedEngine):
        run = _packed_runner(engine)
    else:
        def run(capture, start, stop, ctx):
            return Chunk.from_results(start, engine.run_batch([capture.data(i) for i in range(start, stop)], ctx))

    def run_indexed(capture: Capture, start: int, stop: int, ctx: XdpContext) -> Chunk:
        chunk = run(capture, start, stop, ctx)
        chunk.start = capture.first_index + start
        if capture.source_index is not None:
            chunk.indices = capture.source_index[start:stop]
        if start == 0 and stop == len(capture):
            chunk.capture = capture  # packet i of the chunk is packet i of the piece
        return chunk

    return run_indexed


def _packed_runner(engine):
    """The compiled engine's bulk API (runtime/jit/packed.py): flat arrays, no object per packet."""

    def run(capture: Capture, start: int, stop: int, ctx: XdpContext) -> Chunk:
        offsets, lengths = capture.offsets, capture.lengths
        if start or stop != len(capture):  # a part of the piece (a whole piece, the replay's case, is not copied)
            offsets, lengths = offsets[start:stop], lengths[start:stop]
        packed = engine.run_packed(capture.buffer, offsets, lengths, ctx)
        return Chunk(
            start=start,
            retvals=packed.retvals,
            out_lengths=packed.out_lengths,
            output=packed.packet,
            faults=dict(packed.faults),
            redirects=packed.redirects,  # decoded per packet only when a sink asks
            queues={i: q for i, q in enumerate(packed.rx_queues or ()) if q >= 0},
            trace=packed.trace_printk,  # lines and events decoded from the native log only when a sink asks
            events=packed.events,
            packed=packed,
        )

    return run


def engine_chunks(
    engine, capture: Capture, ctx: XdpContext | None = None, chunk_packets: int = CHUNK_PACKETS
) -> Iterator[Chunk]:
    ctx = ctx or XdpContext()
    run = chunk_runner(engine)
    for start in range(0, len(capture), chunk_packets):
        yield run(capture, start, min(start + chunk_packets, len(capture)), ctx)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), start-up included."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started = int(stat.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
            return float(uptime.read().split()[0]) - started
    except (OSError, ValueError, IndexError):
        return None


def timing(stream, engine, run_seconds: float) -> dict[str, float | None]:
    """Where a replay's time went: reading the capture, making the engine (the jit's
    compile), running packets, and the whole process so far."""
    return {"read_s": _seconds(stream.read_seconds), "compile_s": _seconds(getattr(engine, "compile_seconds", None)),
            "run_s": _seconds(run_seconds), "total_s": _seconds(process_age())}


def as_stream(capture: Capture | CaptureStream, chunk_packets: int = CHUNK_PACKETS) -> CaptureStream:
    return capture if isinstance(capture, CaptureStream) else CaptureStream.of(capture, chunk_packets)


class _Ahead:
    """A helper thread that runs `step()` when asked (`request`) and hands its result or its
    exception back (`take`); one request at a time."""

    def __init__(self, step: Callable[[], Any]):
        self._step = step
        self._asked, self._done = threading.Semaphore(0), threading.Semaphore(0)
        self._result: tuple[bool, Any] = (True, None)
        self._stopping = False
        self.pending = False
        self._thread = threading.Thread(target=self._serve, name="xdptool-read-ahead", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            self._asked.acquire()
            if self._stopping:
                return
            try:
                self._result = (True, self._step())
            except BaseException as exc:  # handed to the caller, raised there
                self._result = (False, exc)
            self._done.release()

    def request(self) -> None:
        self.pending = True
        self._asked.release()

    def take(self) -> Any:
        self._done.acquire()
        self.pending = False
        ok, value = self._result
        self._result = (True, None)
        if not ok:
            raise value
        return value

    def stop(self) -> None:
        self._stopping = True
        self._asked.release()
        self._thread.join()


class ReadAhead:
    """The stream's pieces, each with the fraction of the capture read once it was, the next
    one read (walked: native code, without the GIL) in a helper thread while the caller
    runs the current one: the capture walk and the run overlap.  The first piece is asked
    for at once, and the first pieces are smaller (pcap.piece_sizes).  The next piece is
    asked for only when the caller comes back for one, so the stream releases the pages of a piece only once the caller
    is done with it, as without the thread.  `close()` (also at the end, or when a read
    fails) waits for the read in flight, stops the thread and closes the walk."""

    def __init__(self, stream: CaptureStream):
        self._stream = stream
        self._pieces = stream.chunks(ramp=True)  # the run starts after a short first walk
        self._closed = False
        self._ahead = _Ahead(self._step)
        self._ahead.request()

    def _step(self) -> tuple[Capture | None, float]:
        piece = next(self._pieces, None)
        return piece, self._stream.fraction

    def __iter__(self) -> "ReadAhead":
        return self

    def __next__(self) -> tuple[Capture, float]:
        if self._closed:
            raise StopIteration
        try:
            piece, fraction = self._ahead.take()
        except BaseException:
            self.close()
            raise
        if piece is None:
            self.close()
            raise StopIteration
        self._ahead.request()
        return piece, fraction

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._ahead.pending:  # the caller stopped early: let the read in flight finish first
            try:
                self._ahead.take()
            except BaseException:  # noqa: BLE001 - the caller's own exception is the one that matters
                pass
        self._ahead.stop()
        self._pieces.close()


def replay(
    capture: Capture | CaptureStream,
    engine,
    maps,
    *,
    program_name: str,
    target: str,
    ctx: XdpContext | None = None,
    sinks: tuple = (),
    progress: Progress | None = None,
    chunk_packets: int = CHUNK_PACKETS,
    run_short: bool = True,
) -> ReplayOutcome:
    """Run every packet of `capture` through `engine` in order; feed each chunk to `sinks`.
    run_short=False leaves packets under 14 bytes out (counted in the summary)."""
    stream = as_stream(capture, chunk_packets)
    check_linktype(stream)
    ctx = ctx or XdpContext()
    run = chunk_runner(engine)
    before = maps.dump()
    summary = SummaryBuilder(stream, program_name, target)
    run_seconds = waited = 0.0
    started = time.perf_counter()
    if stream.reads_ahead:
        pieces = ReadAhead(stream)
    else:
        pieces = ((piece, stream.fraction) for piece in stream.chunks())
    try:
        while True:
            asked = time.perf_counter()
            got = next(pieces, None)
            waited += time.perf_counter() - asked
            if got is None:
                break
            piece, fraction = got
            run_piece = runnable(piece, engine, run_short=run_short)
            began = time.perf_counter()
            chunk = run(run_piece, 0, len(run_piece), ctx)
            run_seconds += time.perf_counter() - began
            summary.add(chunk, run_piece.bytes_captured())
            for sink in sinks:
                sink.add(chunk)
            if progress is not None:
                progress(summary.done, fraction)
    finally:
        pieces.close()  # a failed run stops the read in flight (and the helper thread) now
    elapsed = time.perf_counter() - started - waited  # as before streaming: without (waiting for) reading
    after = maps.dump()
    document = summary.finish(before, after, elapsed)
    document["timing"] = timing(stream, engine, run_seconds)
    document["warnings"].extend(engine.notes())  # what the engine's model left out (an armed timer)
    fallbacks = getattr(engine, "helper_fallbacks", None)
    if fallbacks is not None:  # per helper: calls that ran a Python implementation
        document["helper_fallbacks"] = fallbacks()
    for sink in sinks:
        sink.close(document, after)
    return ReplayOutcome(document, after)
