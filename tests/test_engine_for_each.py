"""bpf_for_each_map_elem (runtime/helpers.py, Map.each; native in the jit: runtime/jit/foreach.py)
on arrays, per-CPU arrays and every hash kind the kernel walks (hash, LRU hash, per-CPU hash, LRU
per-CPU hash: the map_ops with map_for_each_callback in Linux 6.18's hashtab.c and arraymap.c): the callback sees each element's key and value (the
key in the caller's depth's key region, the value pointer the element's own), may write the
value, delete the element it is given, stop the walk; the return value counts the elements
visited.  vm == jit (run and packet loop, no Python call) on everything a program can observe,
pointers included, and both == the live kernel wherever the order of a hash map's walk cannot
show (the kernel walks its buckets)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.engines import make_engine
from xdptool.runtime.maps import MapStore

_KERNEL = kernel_unavailable_reason()

# walk_array, walk_percpu, walk_hash, walk_growing (a hash walk whose callback inserts) and
# walk_nested (a hash walk in each array element's callback).  Byte 15: the element the walk
# stops at (0: none); 16..19: a key inserted into the hash first (0: none); 20: keys to delete
# (key % 4 == this).  Back from 14: r0, the callbacks' sum of values, of keys, elements seen,
# the key pointer the first callback got (its region: vm == jit only).
SOURCE = (Path(__file__).parent / "data" / "verifier" / "for_each_walks.c").read_text()  # also the verifier's test
PROGRAMS = ["walk_array", "walk_percpu", "walk_hash", "walk_growing", "walk_nested"]


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        stop = rng.choice([0, 0, 1, 3, 16, 20])
        insert = rng.choice([0, rng.randrange(1, 200), rng.randrange(1 << 32)])
        drop = rng.choice([0, 0, 0, 5, 6, 7, 8])
        packets.append(bytes(range(14)) + bytes([0, stop]) + insert.to_bytes(4, "little") + bytes([drop]) + bytes(40))
    return packets


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("for_each"), "for_each", SOURCE)


def _run(target: str, obj, program: str, packets, batch: bool = False, config=None):
    config = config or RuntimeConfig(ncpus=2, cpu=1)
    store = MapStore.for_object(obj, config)
    with make_engine(target, obj.program(program), store, config) as engine:
        results = engine.run_batch(packets) if batch else [engine.run(p) for p in packets]
        fallbacks = engine.helper_fallbacks() if target == "jit" else {}
    return results, store.dump(), fallbacks


@pytest.mark.parametrize("program", PROGRAMS)
def test_vm_and_jit_agree_with_no_python_call(obj, program):
    packets = _packets(3, 60)
    vm_results, vm_maps, _ = _run("vm", obj, program, packets)
    for batch in (False, True):
        results, maps, fallbacks = _run("jit", obj, program, packets, batch)
        assert [observable(r) for r in results] == [observable(r) for r in vm_results]
        assert maps == vm_maps
        assert fallbacks["bpf_for_each_map_elem"] == 0, fallbacks
    returns = {int.from_bytes(r.packet[14:22], "little", signed=True) for r in vm_results}
    expected = {"walk_array": {1, 3, 16}, "walk_percpu": {1, 3, 8}, "walk_nested": {3}}.get(program, set())
    assert expected <= returns and (len(returns) > 2 or program == "walk_nested"), returns  # stops, whole walks


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("program", ["walk_array", "walk_percpu", "walk_hash"])  # inserts: order; nested: too complex
def test_engines_agree_with_the_kernel(obj, program):
    packets = _packets(4, 60)
    config = RuntimeConfig(ncpus=2, cpu=1)
    ours, our_maps, _ = _run("jit", obj, program, packets, config=config)
    kernel, kernel_maps, _ = _run("kernel", obj, program, packets, config=config)
    for index, (mine, theirs) in enumerate(zip(ours, kernel)):
        assert (mine.verdict, mine.packet[:46]) == (theirs.verdict, theirs.packet[:46]), f"packet {index}"  # no key pointer
    assert our_maps == kernel_maps


# The other hash kinds the kernel walks (LRU hash, per-CPU hash, LRU per-CPU hash): byte 15 the
# element the walk stops at, 16..19 a key inserted first, 20 keys to delete (key % 4 == this).
KINDS_SOURCE = (Path(__file__).parent / "data" / "runtime" / "for_each_hash_kinds.c").read_text()
KIND_PROGRAMS = ["walk_lru", "walk_percpu_hash", "walk_lru_percpu"]


def _kind_packets(seed: int, count: int, stops: bool) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        stop = rng.choice([0, 0, 1, 4, 9]) if stops else 0
        insert = rng.choice([0, rng.randrange(1, 60), rng.randrange(1, 60), rng.randrange(1 << 32)])
        drop = rng.choice([0, 0, 0, 0, 5, 6])
        packets.append(bytes(range(14)) + bytes([0, stop]) + insert.to_bytes(4, "little") + bytes([drop]) + bytes(40))
    return packets


@pytest.fixture(scope="module")
def kinds_obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("for_each_kinds"), "for_each_hash_kinds", KINDS_SOURCE)


@pytest.mark.parametrize("program", KIND_PROGRAMS)
def test_the_other_hash_kinds_walk_natively(kinds_obj, program):
    packets = _kind_packets(5, 80, stops=True)
    vm_results, vm_maps, _ = _run("vm", kinds_obj, program, packets)
    for batch in (False, True):
        results, maps, fallbacks = _run("jit", kinds_obj, program, packets, batch)
        assert [observable(r) for r in results] == [observable(r) for r in vm_results]
        assert maps == vm_maps
        assert not any(fallbacks.values()), fallbacks
    seen = [int.from_bytes(r.packet[38:46], "little") for r in vm_results]
    assert max(seen) > 10 and 1 in seen, seen  # long walks and stopped ones


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("program", KIND_PROGRAMS)
def test_the_other_hash_kinds_agree_with_the_kernel(kinds_obj, program):
    packets = _kind_packets(6, 80, stops=False)  # whole walks: the kernel's bucket order cannot show
    ours, our_maps, _ = _run("jit", kinds_obj, program, packets)
    kernel, kernel_maps, _ = _run("kernel", kinds_obj, program, packets)
    for index, (mine, theirs) in enumerate(zip(ours, kernel)):
        assert (mine.verdict, mine.packet) == (theirs.verdict, theirs.packet), f"packet {index}"
    assert our_maps == kernel_maps
