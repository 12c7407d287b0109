"""`KernelEngine`: the `kernel` target — the program runs in the kernel via BPF_PROG_TEST_RUN.

The object's maps are created in the kernel and filled from the given MapStore's
state (its JSON-shaped dump), the program is loaded (with every program a
prog_array of the object names, for tail calls), packets are test-run, and after
each run or batch the kernel maps are read back into the store, so store dumps
compare with the userspace engines'.

Per-CPU values: the store keeps `config.ncpus` copies, the kernel one per possible
CPU; while running, the process is pinned to `config.cpu` so the program updates
exactly that copy.  What the kernel does not report, the results leave empty:
the redirect target (RunResult.redirect), trace_printk output and ringbuf/perf
events; there are no faults (the verifier rejected anything that could fault).
"""

from __future__ import annotations


import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

from ..elf.model import MapType, Program
from ..errors import XdpError
from ..runtime.contract import Engine, RunResult, XdpContext
from .load import LoadedProgram, load_program
from .maps import MAP_IN_MAP_TYPES, KernelMaps, possible_cpus
from .probe import require_kernel
from .state import dump_maps, load_maps
from .testrun import TestRunner


def prog_array_targets(program: Program) -> dict[str, dict[int, str]]:
    """For each prog_array of the object: slot -> program name, from libbpf-style `.values`."""
    obj = program.object
    if obj is None:
        return {}
    targets: dict[str, dict[int, str]] = {}
    for mapdef in obj.maps.values():
        if mapdef.type != MapType.PROG_ARRAY:
            continue
        values = mapdef.extra.get("values") or {}
        items = values.items() if isinstance(values, dict) else enumerate(values)
        targets[mapdef.name] = {int(slot): name for slot, name in items if name}
    return targets


class KernelEngine(Engine):
    """Engine protocol over the kernel; use as a context manager or call close()."""

    name = "kernel"
    # What BPF_PROG_TEST_RUN does not report back: comparisons leave these out.
    unobservable = frozenset({"redirect", "trace_printk", "events"})

    def __init__(self, program: Program, maps: Any = None, config: Any = None, *, log_level: int = 0):
        require_kernel()
        from ..runtime.config import RuntimeConfig

        self.program = program
        self.store = maps
        self.config = config or RuntimeConfig()
        if self.config.cpu >= possible_cpus():
            raise XdpError(f"cpu {self.config.cpu} does not exist in the kernel ({possible_cpus()} possible CPUs)")
        self._loaded: list[LoadedProgram] = []
        self.kmaps = KernelMaps(self._definitions(program), program.object)  # with BTF, as libbpf creates them
        try:
            if self.store is not None:
                load_maps(self.kmaps, self.store.dump(), self.config.ncpus)
            self.main = self._load(program, log_level)
            self._fill_prog_arrays(log_level)
            self._fill_maps_of_maps()
            self.runner = TestRunner(self.main.fd)
        except BaseException:
            self.close()
            raise

    def _definitions(self, program: Program) -> dict:
        """The object's maps, with .rodata holding the store's contents: a frozen map
        takes its value at creation, so a state loaded into the store (a spec's, or
        --maps-in) must go in then, not afterwards."""
        defs = dict(program.object.maps) if program.object is not None else {}
        if self.store is None:
            return defs
        for name, mapdef in defs.items():
            if mapdef.readonly and mapdef.is_global_data and name in self.store:
                value = self.store[name].lookup(b"\0\0\0\0")
                if value is not None:
                    defs[name] = mapdef.replace(initial=bytes(value))
        return defs

    def _load(self, program: Program, log_level: int) -> LoadedProgram:
        loaded = load_program(program, self.kmaps.fds(), log_level=log_level)
        self._loaded.append(loaded)
        return loaded

    def _fill_prog_arrays(self, log_level: int) -> None:
        obj = self.program.object
        by_name = {p.name: p for p in obj.programs} if obj is not None else {}
        fds = {self.program.name: self.main.fd}
        for map_name, slots in prog_array_targets(self.program).items():
            for slot, prog_name in slots.items():
                if prog_name not in fds:
                    if prog_name not in by_name:
                        raise XdpError(f"prog_array {map_name!r} slot {slot} names unknown program {prog_name!r}")
                    fds[prog_name] = self._load(by_name[prog_name], log_level).fd
                self.kmaps[map_name].update(slot.to_bytes(4, "little"), fds[prog_name])

    def _fill_maps_of_maps(self) -> None:
        """Map-in-map slots from libbpf-style `.values` (the inner maps' fds, as libbpf sets them)."""
        obj = self.program.object
        for mapdef in (obj.maps.values() if obj is not None else ()):
            if mapdef.type not in MAP_IN_MAP_TYPES:
                continue
            values = mapdef.extra.get("values") or {}
            items = values.items() if isinstance(values, dict) else enumerate(values)
            for slot, inner in items:
                if inner:
                    self.kmaps[mapdef.name].update(int(slot).to_bytes(4, "little"), self.kmaps[inner].fd)

    # -- running --------------------------------------------------------------
    @contextmanager
    def _on_configured_cpu(self) -> Iterator[None]:
        before = os.sched_getaffinity(0)
        if before == {self.config.cpu}:
            yield
            return
        try:
            os.sched_setaffinity(0, {self.config.cpu})
        except OSError as err:
            raise XdpError(f"cannot run on cpu {self.config.cpu}: {err.strerror}") from None
        try:
            yield
        finally:
            os.sched_setaffinity(0, before)

    def _result(self, packet: bytes, ctx: XdpContext | None) -> RunResult:
        out = self.runner.run(packet, ctx)
        return RunResult(retval=out.retval, packet=out.data, meta=out.meta)

    def run(self, packet: bytes, ctx: XdpContext | None = None) -> RunResult:
        with self._on_configured_cpu():
            result = self._result(bytes(packet), ctx)
        self.sync_to_store()
        return result

    def run_batch(self, packets: Sequence[bytes], ctx: XdpContext | None = None) -> list[RunResult]:
        results = []
        try:
            with self._on_configured_cpu():
                for index, packet in enumerate(packets):
                    try:
                        results.append(self._result(bytes(packet), ctx))
                    except XdpError as err:
                        raise XdpError(f"packet {index} of the batch: {err}") from None
        finally:
            self.sync_to_store()  # the packets that did run changed the maps
        return results

    def time_per_packet_ns(self, packet: bytes, repeat: int, ctx: XdpContext | None = None) -> int:
        """The kernel's own mean duration over `repeat` runs (maps see every repetition)."""
        with self._on_configured_cpu():
            return self.runner.run(bytes(packet), ctx, repeat=repeat).duration_ns

    # -- map state ------------------------------------------------------------
    def dump_maps(self) -> dict[str, list[dict[str, Any]]]:
        """Kernel map state in the runtime's JSON format."""
        return dump_maps(self.kmaps, self.config.ncpus)

    def sync_to_store(self) -> None:
        if self.store is not None:
            self.store.load(self.dump_maps())

    # -- lifetime -------------------------------------------------------------
    def close(self) -> None:
        for loaded in self._loaded:
            loaded.close()
        self._loaded = []
        self.kmaps.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
