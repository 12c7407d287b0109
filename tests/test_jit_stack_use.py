"""The jit zeroes only the top of each stack frame a program can reach (runtime/jit/stack_use.py),
where the interpreter zeroes all 512 bytes.  The check is differential: the bytes below what
is zeroed are filled with a poison before the jit runs, so any run that reads one of them
would see the poison where the vm sees 0 -- jit == vm on every packet says none does."""

from __future__ import annotations

import json

import pytest

from conftest import PROGRAMS
from test_jit_diff import observable, program
from xdptool.elf.loader import load_object
from xdptool.replay.pcap import read_capture
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.jit.compiler import STACK_SIZE
from xdptool.runtime.jit.stack_use import zeroed_bytes
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

POISON = 0xA5


def poisoned_jit(prog, store=None, unzeroed: int | None = None) -> JitEngine:
    """A jit engine whose frames hold POISON in the bytes it does not zero (`unzeroed`: that
    many bytes at each frame's bottom instead)."""
    engine = JitEngine(prog, store)
    if unzeroed is None:
        unzeroed = STACK_SIZE - zeroed_bytes([prog.insns], STACK_SIZE)
    for region in engine.shadow.stack_regions:
        region.buf[:unzeroed] = bytes([POISON]) * unzeroed
    return engine


def jit_and_vm(prog, packets, store_of=lambda: None):
    want = [observable(r) for r in VmEngine(prog, store_of()).run_batch(packets)]
    got = [observable(r) for r in poisoned_jit(prog, store_of()).run_batch(packets)]
    return got, want


UNINITIALISED_READ = """
    r0 = *(u64 *)(r10 - 8)
    exit"""


def test_the_poison_is_in_the_frames_native_code_uses():
    """The control: the jit clears its frame's top 8 bytes in the very buffer poisoned, and
    leaves the rest as it was."""
    prog = program(UNINITIALISED_READ)
    assert zeroed_bytes([prog.insns], STACK_SIZE) == 8
    engine = poisoned_jit(prog, unzeroed=STACK_SIZE)
    assert [r.retval for r in engine.run_batch([bytes(20)])] == [0]
    frame = engine.shadow.stack_regions[0].buf
    assert bytes(frame) == bytes([POISON]) * (STACK_SIZE - 8) + bytes(8)


@pytest.mark.parametrize("text, reach", [
    (UNINITIALISED_READ, 8),
    ("""
        r1 = r10
        r1 += -64
        r0 = *(u32 *)(r1 + 4)
        exit""", 60),
    ("""
        r1 = r10
        r1 += -100
        call local f
        exit
    f:
        r0 = *(u64 *)(r1 - 8)
        exit""", 108),  # a pointer into the caller's frame, read by the callee
    ("""
        r1 = r10
        r2 = r1
        r2 -= 40
        if r0 > 3 goto far
        *(u8 *)(r2 + 0) = 1
        r0 = *(u8 *)(r2 + 0)
        exit
    far:
        r2 -= 200
        r0 = *(u8 *)(r2 + 0)
        exit""", 240),  # the least offset of two paths
])
def test_reachable_bytes_are_zeroed(text, reach):
    prog = program(text)
    assert zeroed_bytes([prog.insns], STACK_SIZE) == reach
    got, want = jit_and_vm(prog, [bytes(20), bytes(60)])
    assert got == want


@pytest.mark.parametrize("text", [
    """
        *(u64 *)(r10 - 8) = r10
        r1 = *(u64 *)(r10 - 8)
        r0 = *(u64 *)(r1 - 300)
        exit""",  # the frame pointer stored and loaded back
    """
        r1 = r10
        r2 = *(u32 *)(r1 - 4)
        r1 += r2
        r0 = *(u8 *)(r1 - 1)
        exit""",  # a run-time offset
    """
        w1 = w10
        r0 = 0
        exit""",  # cut to 32 bits
    """
        r1 = r10
        r1 += -8
        r0 = r1
        exit""",  # returned
    """
        r1 = r10
    again:
        r1 += -8
        *(u64 *)(r1 + 0) = 0
        r2 = *(u32 *)(r10 - 4)
        if r2 != 0 goto again
        r0 = 0
        exit""",  # a loop walking down: no bound within the frame
])
def test_an_escaping_stack_pointer_zeroes_the_whole_frame(text):
    prog = program(text)
    assert zeroed_bytes([prog.insns], STACK_SIZE) == STACK_SIZE
    got, want = jit_and_vm(prog, [bytes(20)])
    assert got == want


@pytest.mark.parametrize("name", ["port_blocklist", "payload_scan", "bpf2bpf_call", "syn_ratelimit", "encap"])
def test_examples_read_no_byte_they_do_not_zero(built_examples, name):
    """The bundled programs over their captures: bpf_loop with a stack context (payload_scan),
    subprograms (bpf2bpf_call), helper-returned values spilled (syn_ratelimit)."""
    obj = load_object(built_examples[name])
    prog = obj.programs[0]
    assert zeroed_bytes([prog.insns], STACK_SIZE) < STACK_SIZE
    maps_json = PROGRAMS / f"{name}.maps.json"

    def store():
        made = MapStore.for_object(obj)
        if maps_json.exists():
            made.load(json.loads(maps_json.read_text()))
        return made

    capture = read_capture(PROGRAMS / f"{name}.pcap")
    packets = [capture.data(i) for i in range(len(capture))]
    got, want = jit_and_vm(prog, packets, store)
    assert len(got) == len(want) > 0
    for index, (ours, theirs) in enumerate(zip(got, want)):
        assert ours == theirs, f"packet {index}"
