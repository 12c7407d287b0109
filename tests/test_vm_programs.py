"""Compiled example programs (programs/*.c) on the VM: captures against the kernel,
BPF-to-BPF calls and bpf_loop from real C, trace and coverage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
NAMES = sorted(p.stem for p in PROGRAMS.glob("*.c") if (PROGRAMS / f"{p.stem}.pcap").exists())
CLOCK = {5, 125}


@pytest.fixture(scope="module")
def objects(built_examples):
    from xdptool.elf import load_object

    return {name: load_object(path) for name, path in built_examples.items()}


def store_for(obj):
    store = MapStore.for_object(obj)
    state = PROGRAMS / f"{Path(obj.path).stem}.maps.json"
    if state.exists():
        store.load(json.loads(state.read_text()))
    return store


def capture(name):
    from xdptool.replay.pcap import read_capture

    cap = read_capture(PROGRAMS / f"{name}.pcap")
    return [cap.data(i) for i in range(len(cap))]


@pytest.mark.kernel
@pytest.mark.parametrize("name", NAMES)
def test_capture_matches_kernel(name, objects):
    from xdptool.kernel.probe import kernel_unavailable_reason
    from xdptool.runtime.engines import make_engine

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(f"kernel: {reason}")
    obj = objects[name]
    packets = [p for p in capture(name) if len(p) >= 14]  # test_run refuses shorter packets
    kstore, vstore = store_for(obj), store_for(obj)
    kernel = make_engine("kernel", obj.program(), kstore)
    try:
        want = kernel.run_batch(packets)
    finally:
        kernel.close()
    got = VmEngine(obj.program(), vstore).run_batch(packets)
    for i, (k, v) in enumerate(zip(want, got)):
        assert v.fault is None, f"packet {i}: {v.fault}"
        assert (v.retval, v.packet) == (k.retval, k.packet), f"packet {i}"
    if not any(insn.is_helper_call and insn.imm in CLOCK for insn in obj.program().insns):
        assert vstore.dump() == kstore.dump()


def test_short_packets_never_raise(objects):
    for name in NAMES:
        engine = VmEngine(objects[name].program(), store_for(objects[name]))
        for n in (0, 1, 13):
            result = engine.run(bytes(n))
            assert result.verdict in ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT")


def test_trace_and_coverage(objects):
    obj = objects["bpf2bpf_call"]
    engine = VmEngine(obj.program(), store_for(obj), trace=True)
    packets = capture("bpf2bpf_call")
    result = engine.run(packets[0])
    assert result.trace and len(result.trace) == result.insns_executed
    assert result.trace[-1]["insn"] == "exit"
    assert sum(engine.coverage.values()) == result.insns_executed
    assert any(insn.is_local_call for insn in obj.program().insns if engine.coverage.get(insn.pc))
    assert set().union(*engine.branch_coverage.values()) <= {True, False}
    engine.coverage.clear()
    engine.run(packets[0])
    assert sum(engine.coverage.values()) == result.insns_executed
