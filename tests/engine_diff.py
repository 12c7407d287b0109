"""The two comparisons every engine test makes: one program over the same packets on two
engines (`outcomes`, for vm == jit), and on the live kernel beside one of ours
(`agrees_with_the_kernel`) — written once so each test states only its program and packets."""

from __future__ import annotations

from array import array
from typing import Callable

from test_jit_diff import observable
from xdptool.runtime.maps import MapStore


def outcomes(engine_class, obj, name: str, packets, batch: bool = False):
    """(engine, the observable result per packet, the maps after) of `name` on a fresh store."""
    store = MapStore.for_object(obj)
    engine = engine_class(obj.program(name), store)
    results = engine.run_batch(packets) if batch else [engine.run(p) for p in packets]
    return engine, [observable(r) for r in results], store.dump()


def run_packed_over(engine, packets, writable: bool = False):
    """`engine.run_packed` over `packets` laid end to end in one buffer (a bytearray when the
    engine may be handed writable memory), as a replay's piece gives them."""
    buffer = b"".join(packets)
    offsets = array("Q", [sum(map(len, packets[:i])) for i in range(len(packets))])
    lengths = array("I", map(len, packets))
    return engine.run_packed(bytearray(buffer) if writable else buffer, offsets, lengths)


def jit_agrees_with_vm(obj, name: str, packets):
    """Assert the jit gives the vm's result for every packet and the vm's maps, run one packet at
    a time and in its packet loop; return (the one-at-a-time jit engine, the vm's results)."""
    from xdptool.runtime.jit import JitEngine
    from xdptool.runtime.vm import VmEngine

    _, want, vm_maps = outcomes(VmEngine, obj, name, packets)
    jit, got, jit_maps = outcomes(JitEngine, obj, name, packets)
    assert got == want and jit_maps == vm_maps
    _, batched, batch_maps = outcomes(JitEngine, obj, name, packets, batch=True)
    assert batched == want and batch_maps == vm_maps
    return jit, want


def agrees_with_the_kernel(obj, name: str, engine: str, packets,
                           maps: Callable[[dict], dict] = lambda dump: dump) -> list:
    """Assert `engine` gives the live kernel's verdict, return value and bytes for every packet
    and the same maps (as `maps` selects them); return the kernel's (verdict, retval, bytes)."""
    from xdptool.runtime.engines import make_engine

    runs, dumps = [], []
    for target in ("kernel", engine):
        store = MapStore.for_object(obj)
        with make_engine(target, obj.program(name), store) as running:
            runs.append([(r.verdict, r.retval, r.packet) for r in running.run_batch(packets)])
        dumps.append(maps(store.dump()))
    for index, (kernel, ours) in enumerate(zip(*runs)):
        assert ours == kernel, f"{name} packet {index}: {packets[index].hex()}"
    assert dumps[1] == dumps[0]
    return runs[0]
