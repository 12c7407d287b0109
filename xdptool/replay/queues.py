"""Multi-queue replay: a capture spread over N receive queues as a multi-queue NIC would.

Packet -> queue by RSS (rss.py: Toeplitz over the flow, fixed key, 128-entry
indirection table); queue i runs on CPU i of the runtime (RuntimeConfig ncpus=N,
cpu=i: per-CPU map values are per queue, and bpf_get_smp_processor_id() is i),
with xdp_md.rx_queue_index = i, on an engine (and map store) of its own.  Every
queue's engine is made (the jit's code compiled or loaded) and the RSS tables and
native loops are ready before any worker starts, so a worker imports and
compiles nothing.  Each packet is hashed once: for every chunk, worker q hashes
the q-th of N slices into an array the workers share, waits for the others at a
barrier, then picks its own packets and runs them in capture order.  The parent
puts each chunk's results back in capture order (kernels.scatter) for the summary
and the sinks, so outputs are the same whatever the scheduling.  Output packet
bytes come back only when a sink writes packets.

Workers are threads or processes, per engine (WORKERS; `summary.queues.workers`
says which ran):
- threads, for the jit: its packet loop is one ctypes call, which releases the
  GIL, so N queues run on N cores in one process, with nothing to start, copy or
  send; the parent walks the capture (pcap.CaptureStream) and hands chunk k+1 to
  the threads while they run chunk k, then merges chunk k.
- processes, for the vm (Python: threads would take turns on the GIL) and a jit
  that runs its program interpreted (engine.interpreted): forked after the
  engines are made, each maps and walks the capture itself (the page cache is
  shared, nothing is copied) and sends its results through a pipe.
The two give the same results, byte for byte (tests/test_replay_queues.py).

Map state after the replay: slot i of a per-CPU value comes from queue i, as on
the NIC.  A shared (non-per-CPU) map is one object on a real NIC, updated by
every CPU concurrently; each queue here has its own copy (its engine's map store,
threads or processes alike: native hash inserts are not thread-safe) and cannot
reproduce the interleaving, so a replay in which any queue changed a shared map (or
added/removed keys of a per-CPU hash) is refused unless `sum_shared` accepts an
approximation: the queues' changes to each value are added up (little-endian
64-bit words, a shorter tail word as its own width), keys added by any queue
are kept, keys removed by any queue are removed.  That is exact for counters —
what XDP programs keep in shared maps most — and stated in the summary.
Refusing rather than sharing one map between the queues keeps results
deterministic; hash maps would also need the kernel's bucket locks.
"""

from __future__ import annotations

import gc
import mmap
import queue as queue_module
import threading
import time
from array import array
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, cast

from ..errors import XdpError
from ..runtime.contract import PackedEngine, XdpContext
from ..runtime.target import Target
from . import rss, scan
from .driver import ReplayOutcome, check_linktype, process_age, runnable
from .kernels import scatter
from .pcap import CHUNK_PACKETS, Capture, CaptureStream
from .results import Chunk, SummaryBuilder

if TYPE_CHECKING:
    from ..runtime.jit.packed import PackedResults

FINAL_MESSAGES = ("done", "error", "internal", "aborted")  # a worker's last message
QUEUE_ENGINES = ("jit", "vm")  # engines a worker can run (the kernel's test-run has one queue per device)
# How each engine's queues run (see the module docstring).  Measured on 2 cores, port_blocklist
# (bench/bench_issue15.py; README "Performance"): the jit on 1M packets is faster in threads than in
# processes (no fork, no second walk of the file, no results through pipes); the vm in threads runs
# no faster than one queue (the GIL).
WORKERS = {"jit": "threads", "vm": "processes"}
UNCHANGED = (1 << 64) - 1  # jit/batch.py: the output packet is the input packet


@dataclass
class QueueResults:
    """Flat results of one chunk, as the bulk API gives them (packed.py), in capture order."""

    retvals: array
    fault_codes: array
    out: bytearray
    out_offsets: array
    out_lengths: array
    source: Any
    source_offsets: array

    def packet(self, index: int) -> bytes:
        start = self.out_offsets[index]
        if start == UNCHANGED:
            start = self.source_offsets[index]
            return bytes(self.source[start:start + self.out_lengths[index]])
        return bytes(self.out[start:start + self.out_lengths[index]])


def _file_indices(piece: Capture, index: array) -> list[int]:
    """The capture-file index of each of one queue's packets of a piece (wanted only where
    the summary names packets: a chunk with faults)."""
    source = piece.source_index
    return [piece.first_index + at for at in index] if source is None else [source[at] for at in index]


def _not_kept(index: int) -> bytes:
    raise RuntimeError("--queues: output packets are brought back only for a replay with sinks")


def queue_target(target: Target, queues: int, queue: int) -> Target:
    """The program as CPU `queue` of `queues` sees it."""
    from ..runtime.config import RuntimeConfig

    config = (target.config or RuntimeConfig()).replace(ncpus=queues, cpu=queue)
    return Target(target.name, target.object, target.program, config, target.initial_maps, target.maps_source)


def _run(engine, buffer, offsets: array, lengths: array, ctx: XdpContext) -> "PackedResults":
    if isinstance(engine, PackedEngine):
        return cast("PackedResults", engine.run_packed(buffer, offsets, lengths, ctx))  # the contract leaves it untyped
    from ..runtime.jit.packed import PackedResults

    view = memoryview(buffer)
    packets = [bytes(view[o:o + n]) for o, n in zip(offsets, lengths)]
    return PackedResults.from_results(engine.run_batch(packets, ctx))


@dataclass
class SharedAssignment:
    """What the queues' workers share to hash every packet once: each hashes its share of a
    chunk's packets (queue q the q-th of N slices) into one of two byte arrays (memory the
    processes share, or plain bytearrays for threads; chunks alternate between them), then
    waits at the barrier for the others, then picks its own packets from the whole array.
    Two arrays: a worker hashing chunk k+1 never overwrites what a slower one is still
    picking from for chunk k (the barrier of chunk k+1 is passed only once every worker has
    picked chunk k)."""

    barrier: Any  # threading.Barrier or multiprocessing's
    arrays: tuple  # two writable buffers of chunk_packets bytes

    def share(self, queues: int, queue: int, number: int, piece) -> tuple[array, array, array]:
        """Hash this worker's slice of chunk `number`, wait for the other workers, and
        pick this queue's packets: (their index in the piece, offsets, lengths)."""
        assigned, count = self.arrays[number % 2], len(piece)
        rss.assign(piece.buffer, piece.offsets, piece.lengths, queues, assigned,
                   queue * count // queues, (queue + 1) * count // queues)
        self.barrier.wait()
        return rss.pick(assigned, piece.offsets, piece.lengths, queue, count)


class _Aborted(Exception):
    """Another queue's worker failed: this one stops (the parent reports the other's error)."""


def _serve(send: Callable[[tuple], None], made: tuple, queues: int, queue: int,
           pieces: Iterable[tuple[int, Capture]], ctx: XdpContext, shared: SharedAssignment, want_out: bool) -> None:
    """One queue's work, in a thread or a process: its (engine, map store), made before
    the workers started; its packets of every chunk (`pieces`: (chunk number, piece), hashed
    together with the other workers through `shared`); each chunk's results, then its map
    state, sent with `send`; packet bytes only when a sink wants them."""
    try:
        engine, store = made
        ctx = ctx._replace(rx_queue_index=queue)
        run_seconds = 0.0
        try:
            for number, piece in pieces:
                try:
                    index, offsets, lengths = shared.share(queues, queue, number, piece)
                except threading.BrokenBarrierError:
                    raise _Aborted from None
                began = time.perf_counter()
                packed = _run(engine, piece.buffer, offsets, lengths, ctx)
                run_seconds += time.perf_counter() - began
                send(("chunk", index, packed.retvals, packed.fault_codes,
                      bytes(packed.out) if want_out else b"", packed.out_offsets if want_out else None,
                      packed.out_lengths, packed.faults, packed.redirects,
                      # trace lines and events decoded here, sent as plain dicts
                      packed.trace_printk.copy() if want_out else {}, packed.events.copy() if want_out else {}))
            if shared.barrier.broken:  # stopped by the parent (close) before the end of the capture
                raise _Aborted
            fallbacks = getattr(engine, "helper_fallbacks", None)
            send(("done", store.dump(), fallbacks() if fallbacks else None,
                  getattr(engine, "compile_seconds", None), run_seconds, engine.notes()))
        finally:
            engine.close()
    except _Aborted:
        send(("aborted",))
    except XdpError as exc:
        shared.barrier.abort()  # the others stop at their next chunk instead of waiting for this one
        send(("error", str(exc)))
    except BaseException:  # noqa: BLE001 - reported by the parent as an internal error
        import traceback  # only here: a replay's start-up does not import it

        shared.barrier.abort()
        send(("internal", traceback.format_exc()))


def _process_worker(conn, made: tuple, queues: int, queue: int, path: str, chunk_packets: int, ctx: XdpContext,
                    run_short: bool, shared: SharedAssignment) -> None:
    """A forked queue: walks the mapped capture itself (the page cache is shared, nothing is
    copied), cutting every chunk as the parent does."""
    try:
        _, want_out = conn.recv()  # ("start", want_out)
        pieces = ((number, runnable(piece, run_short=run_short))
                  for number, piece in enumerate(CaptureStream(path, chunk_packets).chunks()))
        _serve(conn.send, made, queues, queue, pieces, ctx, shared, want_out)
    finally:
        conn.close()


class _Processes:
    """Forked workers (started at construction, before any thread, e.g. a progress bar,
    exists), one pipe each."""

    kind = "processes"

    def __init__(self, made: list[tuple], path: str, chunk_packets: int, ctx: XdpContext, run_short: bool):
        import multiprocessing

        queues = len(made)
        context = multiprocessing.get_context("fork")
        self.shared = SharedAssignment(context.Barrier(queues),
                                       tuple(mmap.mmap(-1, max(1, chunk_packets)) for _ in range(2)))
        self.run_short = run_short
        self.conns, self.workers = [], []
        self.exited: set[int] = set()  # queues whose worker process has ended
        gc.freeze()  # the parent's objects stay out of every collection: pages shared with the workers stay shared
        for queue in range(queues):
            parent_end, child_end = context.Pipe()
            worker = context.Process(target=_process_worker, name=f"xdptool-queue-{queue}", daemon=True,
                                     args=(child_end, made[queue], queues, queue, path, chunk_packets, ctx,
                                           run_short, self.shared))
            worker.start()
            child_end.close()
            self.conns.append(parent_end)
            self.workers.append(worker)
        gc.unfreeze()

    def start(self, want_out: bool) -> None:
        for conn in self.conns:
            conn.send(("start", want_out))

    def feed(self, chunks: Iterator[Capture]) -> Iterator[Capture]:
        """The parent's pieces (the workers walk the file themselves)."""
        for piece in chunks:
            yield runnable(piece, run_short=self.run_short)

    def next(self, queue: int) -> tuple | None:
        """The next message of queue `queue`; None when its process ended without one.  While
        waiting, a worker that dies without a word (killed, crashed) breaks the barrier, so
        that the others stop instead of waiting for it."""
        from multiprocessing.connection import wait

        conn = self.conns[queue]
        while not conn.poll():
            watched = {self.workers[q].sentinel: q for q in range(len(self.workers)) if q not in self.exited}
            for ready in wait([conn, *watched]):
                if ready in watched:
                    self.exited.add(watched[ready])
                    if self.workers[watched[ready]].exitcode:
                        self.shared.barrier.abort()
        try:
            return conn.recv()
        except EOFError:
            return None

    def lost(self, queue: int) -> str:
        worker = self.workers[queue]
        worker.join(1)
        return f"queue {queue}'s worker process ended without a result (exit code {worker.exitcode})"

    def close(self) -> None:
        self.shared.barrier.abort()  # a worker still waiting for another stops at once (after an error)
        for worker in self.workers:
            worker.join(timeout=5)
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for conn in self.conns:
            conn.close()


class _Threads:
    """One thread per queue in this process; the parent hands every chunk to all of them."""

    kind = "threads"
    JOIN_SECONDS = 30  # a thread inside a long native batch cannot be interrupted; it is a daemon

    def __init__(self, made: list[tuple], chunk_packets: int, ctx: XdpContext, run_short: bool):
        queues = len(made)
        self.shared = SharedAssignment(threading.Barrier(queues),
                                       tuple(bytearray(max(1, chunk_packets)) for _ in range(2)))
        self.run_short, self.made, self.ctx = run_short, made, ctx
        self.inboxes = [queue_module.SimpleQueue() for _ in range(queues)]
        self.outboxes = [queue_module.SimpleQueue() for _ in range(queues)]
        self.workers: list[threading.Thread] = []

    def start(self, want_out: bool) -> None:
        queues = len(self.made)
        for queue in range(queues):
            inbox = self.inboxes[queue]
            pieces = iter(inbox.get, None)
            worker = threading.Thread(target=_serve, name=f"xdptool-queue-{queue}", daemon=True,
                                      args=(self.outboxes[queue].put, self.made[queue], queues, queue, pieces,
                                            self.ctx, self.shared, want_out))
            worker.start()
            self.workers.append(worker)

    def feed(self, chunks: Iterator[Capture]) -> Iterator[Capture]:
        """The parent's pieces, each yielded (to be merged) once the next one is with the
        workers: they run chunk k+1 while the parent merges chunk k and walks chunk k+2 (the
        stream drops a piece's pages only when the piece after the next is read, so the
        workers' pieces stay in memory)."""
        previous = None
        for number, piece in enumerate(chunks):
            piece = runnable(piece, run_short=self.run_short)
            for inbox in self.inboxes:
                inbox.put((number, piece))
            if previous is not None:
                yield previous
            previous = piece
        self._stop()
        if previous is not None:
            yield previous

    def _stop(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)

    def next(self, queue: int) -> tuple | None:
        return self.outboxes[queue].get()  # _serve always ends with a final message

    def lost(self, queue: int) -> str:
        return f"queue {queue}'s worker thread ended without a result"

    def close(self) -> None:
        self.shared.barrier.abort()
        self._stop()  # a thread waiting for a chunk ends ("aborted": the barrier is broken)
        for worker in self.workers:
            worker.join(timeout=self.JOIN_SECONDS)


class QueueReplay:
    """Workers made at construction (processes forked then: before any thread exists),
    results merged by `run`.  `workers` overrides WORKERS ("threads" or "processes")."""

    def __init__(self, path: str, target: Target, queues: int, *, ctx: XdpContext | None = None,
                 sum_shared: bool = False, chunk_packets: int = CHUNK_PACKETS, run_short: bool = True,
                 workers: str | None = None):
        if target.name not in QUEUE_ENGINES:
            raise XdpError(f"--queues runs on the {' or '.join(QUEUE_ENGINES)} engine, not {target.name}")
        if not 1 <= queues <= rss.MAX_QUEUES:
            raise XdpError(f"--queues must be 1..{rss.MAX_QUEUES}, got {queues}")
        if workers not in (None, *WORKERS.values()):
            raise ValueError(f"QueueReplay: workers must be one of {sorted(set(WORKERS.values()))}, not {workers!r}")
        self.path, self.target, self.queues = path, target, queues
        self.sum_shared, self.chunk_packets, self.run_short = sum_shared, chunk_packets, run_short
        self.stream = CaptureStream(path, chunk_packets)  # the header is checked before any worker starts
        check_linktype(self.stream)
        # the initial state, as every queue starts from it (a bad --maps-in fails here, once)
        self.before = queue_target(target, queues, 0).new_store().dump()
        # Everything a worker needs, made once here: its engine (the jit's code for its CPU),
        # the RSS tables and the native loops; the workers only run.
        made = [queue_target(target, queues, queue).make() for queue in range(queues)]
        rss.prepare(queues)
        scan.prepare()
        if workers is None:
            interpreted = any(getattr(engine, "interpreted", False) for engine, _ in made)  # a too-large program
            workers = "processes" if interpreted else WORKERS[target.name]
        ctx = ctx or XdpContext()
        self.pool = (_Threads(made, chunk_packets, ctx, run_short) if workers == "threads" else
                     _Processes(made, path, chunk_packets, ctx, run_short))
        self.workers = self.pool.workers
        self.finished: set[int] = set()  # queues whose worker sent its last message

    def _receive(self, queue: int, expect: str) -> tuple:
        """Queue `queue`'s next message, which must be `expect`; a worker's error is raised here
        (when a worker stopped because another failed, the other's error)."""
        message = self._next(queue)
        if message[0] == "aborted":  # another worker failed first: its report is the one that counts
            for other in range(self.queues):
                while other not in self.finished:
                    self._check(other, self._next(other))
            raise RuntimeError("the queues' workers stopped without saying why")
        self._check(queue, message)
        if message[0] != expect:
            raise RuntimeError(f"queue {queue}'s worker sent {message[0]!r}, expected {expect!r}")
        return message

    def _next(self, queue: int) -> tuple:
        message = self.pool.next(queue)
        if message is None:
            self.finished.add(queue)
            raise RuntimeError(self.pool.lost(queue))
        if message[0] in FINAL_MESSAGES:
            self.finished.add(queue)
        return message

    @staticmethod
    def _check(queue: int, message: tuple) -> None:
        if message[0] == "error":
            raise XdpError(message[1])
        if message[0] == "internal":
            raise RuntimeError(f"queue {queue}'s worker failed:\n{message[1]}")

    def run(self, *, program_name: str, sinks: tuple = (), progress=None) -> ReplayOutcome:
        try:
            return self._run(program_name, sinks, progress)
        finally:
            self.close()

    def _run(self, program_name: str, sinks: tuple, progress) -> ReplayOutcome:
        stream = self.stream
        summary = SummaryBuilder(stream, program_name, self.target.name)
        per_queue = [0] * self.queues
        self.pool.start(bool(sinks))  # the summary needs lengths only; packet bytes are for the sinks
        read_before = stream.read_seconds
        started = time.perf_counter()
        for piece in self.pool.feed(stream.chunks()):  # runts left out (counted) unless run_short
            parts = [self._receive(q, "chunk") for q in range(self.queues)]
            if sinks:
                chunk = self._merge(piece, parts, per_queue)
                summary.add(chunk, piece.bytes_captured())
                for sink in sinks:
                    sink.add(chunk)
            else:  # the summary takes packets in any order: each queue's as they came
                self._summarise(summary, piece, parts, per_queue)
            if progress is not None:
                progress(summary.done, stream.fraction)
        finals = [self._receive(q, "done") for q in range(self.queues)]
        elapsed = time.perf_counter() - started - (stream.read_seconds - read_before)
        after, summed = self._merge_maps([final[1] for final in finals])
        document = summary.finish(self.before, after, elapsed)
        compile_times = [final[3] for final in finals if final[3] is not None]
        age = process_age()
        document["timing"] = {
            "read_s": round(stream.read_seconds, 6),
            "compile_s": round(sum(compile_times), 6) if compile_times else None,  # made one after another
            "run_s": round(max(final[4] for final in finals), 6),
            "total_s": None if age is None else round(age, 6),
        }
        for note in dict.fromkeys(note for final in finals for note in final[5]):  # each once
            document["warnings"].append(note)
        fallbacks = [final[2] for final in finals if final[2] is not None]
        if fallbacks:
            document["helper_fallbacks"] = {name: sum(f.get(name, 0) for f in fallbacks) for name in fallbacks[0]}
        document["queues"] = {
            "count": self.queues,
            "packets": per_queue,
            "hash": "toeplitz",
            "key": rss.KEY.hex(),
            "indirection_entries": rss.INDIRECTION_ENTRIES,
            "shared_maps_summed": summed,
            "workers": self.pool.kind,
        }
        for sink in sinks:
            sink.close(document, after)
        return ReplayOutcome(document, after)

    def _merge(self, piece, parts: list[tuple], per_queue: list[int]) -> Chunk:
        """The queues' results of one chunk back in capture order."""
        count = len(piece)
        retvals, fault_codes = array("I", [0]) * count, array("B", [0]) * count
        out_lengths, out_offsets = array("I", [0]) * count, array("Q", [0]) * count
        out = bytearray()
        faults, redirects, trace, events, covered = {}, {}, {}, {}, 0
        for queue, (_, index, q_retvals, q_faults, q_out, q_offsets, q_lengths, q_fault_map,
                    q_redirects, q_trace, q_events) in enumerate(parts):
            scatter(retvals, index, q_retvals)
            scatter(fault_codes, index, q_faults)
            scatter(out_lengths, index, q_lengths)
            if q_offsets is not None:
                scatter(out_offsets, index, q_offsets, len(out))
            out += q_out
            for into, sent in ((faults, q_fault_map), (redirects, q_redirects), (trace, q_trace), (events, q_events)):
                into.update((index[i], value) for i, value in sent.items())  # queue index -> capture order
            per_queue[queue] += len(index)
            covered += len(index)
        if covered != count:
            raise RuntimeError(f"the queues ran {covered} of the {count} packets of chunk at {piece.first_index}")
        merged = QueueResults(retvals, fault_codes, out, out_offsets, out_lengths, piece.buffer, piece.offsets)
        kept = all(part[5] is not None for part in parts)
        return Chunk(start=piece.first_index, retvals=retvals, out_lengths=out_lengths,
                     output=merged.packet if kept else _not_kept,
                     faults=faults, redirects=redirects, packed=merged if kept else None, capture=piece,
                     indices=piece.source_index, trace=trace, events=events)

    def _summarise(self, summary: SummaryBuilder, piece: Capture, parts: list[tuple], per_queue: list[int]) -> None:
        """Each queue's results of one chunk into the summary as they are (no merge into
        capture order: what a replay without sinks needs is counts, totals and the first
        faults by index, which do not depend on the order)."""
        covered = 0
        for queue, (_, index, q_retvals, _, _, _, q_lengths, q_fault_map, *_) in enumerate(parts):
            summary.add(Chunk(start=piece.first_index, retvals=q_retvals, out_lengths=q_lengths, output=_not_kept,
                              faults=q_fault_map, indices=_file_indices(piece, index) if q_fault_map else None),
                        piece.bytes_captured() if queue == 0 else 0)  # the chunk's captured bytes, once
            per_queue[queue] += len(index)
            covered += len(index)
        if covered != len(piece):
            raise RuntimeError(f"the queues ran {covered} of the {len(piece)} packets of chunk at {piece.first_index}")

    def _merge_maps(self, finals: list[dict]) -> tuple[dict, list[str]]:
        """(merged map state, shared maps whose changes were summed); see the module docstring."""
        written, merged = [], {}
        mapdefs = self.target.object.maps
        for name, entries in self.before.items():
            before = {e["key"]: e["value"] for e in entries}
            states = [{e["key"]: e["value"] for e in final.get(name, [])} for final in finals]
            percpu = mapdefs[name].is_percpu if name in mapdefs else False
            if percpu:
                if any(state.keys() != before.keys() for state in states):
                    written.append(name)
                merged[name] = _percpu_merge(before, states)
            elif all(state == before for state in states):
                merged[name] = entries
            else:
                written.append(name)
                merged[name] = _summed(name, before, states)
        if written and not self.sum_shared:
            names = ", ".join(written)
            raise XdpError(f"--queues {self.queues}: the program changed {names}, shared by every CPU (not per-CPU "
                           f"values); each queue's process has its own copy, so their updates cannot be combined "
                           f"exactly: replay with --queues 1, or add --sum-shared-maps to add up the queues' "
                           f"changes (exact for counters)")
        store = queue_target(self.target, self.queues, 0).new_store()
        try:
            store.load(merged)  # the canonical dump order, and the maps' own checks (capacity)
        except XdpError as exc:
            raise XdpError(f"--queues {self.queues}: the queues' map states cannot be combined: {exc}") from None
        return store.dump(), written

    def close(self) -> None:
        self.pool.close()
        self.stream.close()


def _percpu_merge(before: dict, states: list[dict]) -> list[dict]:
    """Slot i of every value from queue i; keys any queue added kept, removed ones dropped."""
    keys = [k for k in before if all(k in s for s in states)]
    keys += [k for state in states for k in state if k not in before and k not in keys]
    entries = []
    for key in keys:
        sample = next(s[key] for s in states if key in s) if key not in before else before[key]
        zero = "00" * (len(sample[0]) // 2)
        entries.append({"key": key, "value": [s[key][q] if key in s else zero for q, s in enumerate(states)]})
    return entries


def _summed(name: str, before: dict, states: list[dict]) -> list[dict]:
    """before + the sum of each queue's change, per little-endian 64-bit word."""
    removed = {k for k in before for s in states if k not in s}
    keys = [k for k in before if k not in removed]
    keys += [k for state in states for k in state if k not in before and k not in keys]
    entries = []
    for key in keys:
        values = [s[key] for s in states if key in s]
        if not all(isinstance(v, str) for v in values):
            raise XdpError(f"map {name}: its values cannot be added up across queues")
        base = bytes.fromhex(before[key]) if key in before else bytes(len(values[0]) // 2)
        total = bytearray(base)
        for value in values:
            raw = bytes.fromhex(value)
            for at in range(0, len(raw), 8):
                width = min(8, len(raw) - at)
                mask = (1 << (8 * width)) - 1
                word = int.from_bytes(total[at:at + width], "little")
                change = int.from_bytes(raw[at:at + width], "little") - int.from_bytes(base[at:at + width], "little")
                total[at:at + width] = ((word + change) & mask).to_bytes(width, "little")
        entries.append({"key": key, "value": total.hex()})
    return entries
