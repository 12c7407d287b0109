"""JIT vs interpreter on the bundled C programs (built with clang) and their captures:
identical verdicts, return values, output packets, redirects, faults, trace output,
events, instruction counts, and map state after the whole capture."""

from __future__ import annotations

import json

import pytest

from xdptool.elf.loader import load_object
from xdptool.replay.pcap import read_capture
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

from conftest import PROGRAMS, example_sources
from test_jit_diff import observable


def replay(engine_class, obj_path, name):
    obj = load_object(obj_path)
    store = MapStore.for_object(obj)
    maps_json = PROGRAMS / f"{name}.maps.json"
    if maps_json.exists():
        store.load(json.loads(maps_json.read_text()))
    engine = engine_class(obj.programs[0], store)
    capture = read_capture(PROGRAMS / f"{name}.pcap")
    packets = [capture.data(i) for i in range(len(capture))]
    return [observable(r) for r in engine.run_batch(packets)], store.dump()


@pytest.mark.parametrize("name", [src.stem for src in example_sources()])
def test_example_program_matches_vm(built_examples, name):
    if not (PROGRAMS / f"{name}.pcap").exists():
        pytest.skip(f"programs/{name}.pcap is missing")
    vm_results, vm_maps = replay(VmEngine, built_examples[name], name)
    jit_results, jit_maps = replay(JitEngine, built_examples[name], name)
    assert len(jit_results) == len(vm_results) > 0
    for index, (want, got) in enumerate(zip(vm_results, jit_results)):
        assert got == want, f"packet {index}"
    assert jit_maps == vm_maps
