"""The jit's bulk output path (runtime/jit/packed.py): changed packets in one output
area and the per-packet result arrays reused between calls only when no earlier result
views or holds them, and redirect targets
kept as the native log and decoded on demand -- each checked against the vm's own
per-packet results."""

from __future__ import annotations

import json
import pickle
from array import array

from xdptool.elf.loader import load_object
from xdptool.replay.pcap import read_capture
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.jit.packed import OutputArea, RedirectTargets
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

from conftest import PROGRAMS


def _engine(engine_class, obj_path, name):
    obj = load_object(obj_path)
    store = MapStore.for_object(obj)
    maps_json = PROGRAMS / f"{name}.maps.json"
    if maps_json.exists():
        store.load(json.loads(maps_json.read_text()))
    return engine_class(obj.programs[0], store)


def _packets(name, repeat=1):
    capture = read_capture(PROGRAMS / f"{name}.pcap")
    frames = [i for i in range(len(capture)) if capture.lengths[i] >= 14] * repeat
    offsets = array("Q", (capture.offsets[i] for i in frames))
    lengths = array("I", (capture.lengths[i] for i in frames))
    return capture.buffer, offsets, lengths, [bytes(capture.data(i)) for i in frames]


def test_redirect_targets_decoded_on_demand_equal_the_vms(built_examples):
    buffer, offsets, lengths, packets = _packets("redirect_devmap", repeat=3)
    want = {i: r.redirect for i, r in enumerate(_engine(VmEngine, built_examples["redirect_devmap"],
                                                       "redirect_devmap").run_batch(packets)) if r.redirect}
    assert want, "the capture must redirect some packets"
    results = _engine(JitEngine, built_examples["redirect_devmap"], "redirect_devmap").run_packed(
        buffer, offsets, lengths)
    targets = results.redirects
    assert isinstance(targets, RedirectTargets)
    assert len(targets) == len(want) and list(targets) == sorted(want)
    first_plain = next(i for i in range(len(packets)) if i not in want)
    assert first_plain not in targets and targets.get(first_plain) is None
    assert dict(targets) == want
    assert dict(pickle.loads(pickle.dumps(targets))) == want  # as --queues workers send them


def test_output_area_is_reused_only_when_no_result_views_it(built_examples):
    buffer, offsets, lengths, packets = _packets("mac_swap", repeat=2)
    want = [r.packet for r in _engine(VmEngine, built_examples["mac_swap"], "mac_swap").run_batch(packets)]
    jit = _engine(JitEngine, built_examples["mac_swap"], "mac_swap")
    held = jit.run_packed(buffer, offsets, lengths)
    assert all(held.changed(i) for i in range(len(packets)))  # every packet is rewritten (and stored)
    first_area = jit._area
    again = jit.run_packed(buffer, offsets[::-1], lengths[::-1])  # `held` still views the first area
    assert jit._area is not first_area
    assert [held.packet(i) for i in range(len(packets))] == want
    assert [again.packet(i) for i in range(len(packets))] == want[::-1]
    second_area = jit._area
    del again
    third = jit.run_packed(buffer, offsets, lengths)
    assert jit._area is second_area  # nothing viewed it any more: its pages are used again
    assert [third.packet(i) for i in range(len(packets))] == want
    assert [held.packet(i) for i in range(len(packets))] == want


def test_result_arrays_are_reused_only_when_no_result_holds_them(built_examples):
    buffer, offsets, lengths, packets = _packets("port_blocklist", repeat=2)
    vm = _engine(VmEngine, built_examples["port_blocklist"], "port_blocklist")
    jit = _engine(JitEngine, built_examples["port_blocklist"], "port_blocklist")

    def outcomes(results, count):
        return [(results.verdict(i), results.insns[i], results.packet(i)) for i in range(count)]

    def expected(order):
        return [(r.verdict, r.insns_executed, r.packet) for r in vm.run_batch(order)]

    held = jit.run_packed(buffer, offsets, lengths)
    held_want = expected(packets)
    assert len({verdict for verdict, _, _ in held_want}) > 1 and len({n for _, n, _ in held_want}) > 1
    again = jit.run_packed(buffer, offsets[::-1], lengths[::-1])  # `held` still holds the first set
    assert again.retvals is not held.retvals
    assert outcomes(again, len(packets)) == expected(packets[::-1])
    second = [id(a) for a in (again.retvals, again.fault_codes, again.insns, again.out_offsets, again.out_lengths)]
    del again
    third = jit.run_packed(buffer, offsets, lengths)  # nothing holds the second set: written over, not made anew
    assert [id(a) for a in (third.retvals, third.fault_codes, third.insns, third.out_offsets,
                            third.out_lengths)] == second
    assert outcomes(third, len(packets)) == expected(packets)
    assert outcomes(held, len(packets)) == held_want


def test_output_area_grows_in_place_keeping_its_bytes():
    area = OutputArea(4096)
    pattern = bytes(range(256)) * 16
    area.result(0).obj[:4096] = pattern
    area.grow()
    assert area.capacity >= 8192 and bytes(area.result(4096)) == pattern
    view = area.result(10)
    assert not area.free()
    del view
    assert area.free()


def test_packet_loop_frames_are_zeroed_between_packets_of_every_size():
    """The packet loop zeroes only what the last packet dirtied and the new one's copy does
    not cover: each packet here moves its start back by 24 bytes and its end on by 40, marks
    byte 1 of the grown head when its length is even, and returns the whole window -- after
    packets longer, shorter and as long as it (each packet's bytes are all 0xff), the rest
    of the head must be zeros, as in the vm's freshly reset buffer.  (Stale bytes past the
    end could only show through bpf_xdp_adjust_tail, which zeroes what it grows.)"""
    from test_jit_diff import observable, program

    prog = program("""
        r6 = r1
        r2 = -24
        call 44
        r1 = r6
        r2 = 40
        call 65
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 2
        if r4 > r3 goto out
        r3 -= r2
        r3 &= 1
        if r3 != 0 goto out
        r5 = 0xaa
        *(u8 *)(r2 + 1) = r5
    out:
        r0 = 2
        exit""")
    sizes = [60, 1500, 14, 15, 14, 200, 64, 64, 3000, 15, 301, 60, 61]
    packets = [b"\xff" * size for size in sizes]
    buffer = b"".join(packets)
    offsets = array("Q", [sum(sizes[:i]) for i in range(len(sizes))])
    lengths = array("I", sizes)
    want = [observable(r) for r in VmEngine(prog, MapStore({})).run_batch(packets)]
    packed = JitEngine(prog, MapStore({})).run_packed(buffer, offsets, lengths)
    assert [observable(packed.result(i)) for i in range(len(sizes))] == want
    assert [r[2] for r in want] == [bytes([0, 0xAA if size % 2 == 0 else 0]) + bytes(22) + b"\xff" * size + bytes(40)
                                   for size in sizes]
