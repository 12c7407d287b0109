"""Accesses at a constant offset from r10 inside the frame run unchecked in the jit
(memory.MemoryModel._unchecked): they agree with the vm at the frame's edges, across
BPF-to-BPF frames, and fault as on the vm just outside them; a program that writes r10
(the engines run it; only the verifier refuses it) keeps every access checked."""

from __future__ import annotations

import pytest

from test_jit_diff import PACKETS, agree_with_vm, both, program

from xdptool.runtime.jit import compiler
from xdptool.runtime.jit.memory import MemoryModel

INSIDE = {
    "both edges of the frame": """
        r2 = 0x1122334455667788 ll
        *(u64 *)(r10 - 512) = r2
        *(u64 *)(r10 - 8) = r2
        *(u8 *)(r10 - 1) = 7
        r0 = *(u64 *)(r10 - 512)
        r3 = *(u8 *)(r10 - 1)
        r0 += r3
        r3 = *(u32 *)(r10 - 8)
        r0 ^= r3
        r0 &= 3
        exit""",
    "stored, read back as a pointer and through it": """
        r2 = *(u32 *)(r1 + 0)
        *(u64 *)(r10 - 16) = r2
        *(u64 *)(r10 - 24) = r1
        r3 = *(u64 *)(r10 - 16)
        r1 = *(u64 *)(r10 - 24)
        r4 = *(u32 *)(r1 + 4)
        r5 = r3
        r5 += 2
        if r5 > r4 goto out
        r0 = *(u16 *)(r3 + 0)
        *(u16 *)(r10 - 2) = r0
        r0 = *(u8 *)(r10 - 1)
        r0 &= 3
        exit
    out:
        r0 = 1
        exit""",
    "atomic add on the stack": """
        *(u64 *)(r10 - 8) = 5
        r2 = 3
        lock *(u64 *)(r10 - 8) += r2
        r0 = *(u64 *)(r10 - 8)
        r0 -= 6
        exit""",
    "each call frame its own": """
        *(u64 *)(r10 - 8) = 1
        call sub
        r2 = *(u64 *)(r10 - 8)
        r0 += r2
        exit
    sub:
        *(u64 *)(r10 - 8) = 2
        r0 = *(u64 *)(r10 - 8)
        exit""",
}

OUTSIDE = {
    "above the frame top": """
        *(u64 *)(r10 - 4) = 1
        r0 = 2
        exit""",
    "read at the top": """
        r0 = *(u8 *)(r10 + 0)
        exit""",
    "below the frame": """
        r0 = *(u64 *)(r10 - 520)
        exit""",
    "r10 written: a ctx pointer": """
        r10 = r1
        r0 = *(u32 *)(r10 - 8)
        exit""",
    "r10 written: moved inside the frame, then past its top": """
        r10 += -8
        *(u64 *)(r10 - 8) = 1
        r10 += 16
        *(u64 *)(r10 - 8) = 1
        r0 = 2
        exit""",
}


@pytest.mark.parametrize("name", list(INSIDE))
def test_frame_accesses_agree_with_the_vm(name):
    agree_with_vm(INSIDE[name], faults=False)


@pytest.mark.parametrize("name", list(OUTSIDE))
def test_accesses_outside_the_frame_or_through_a_written_r10_fault_as_on_the_vm(name):
    agree_with_vm(OUTSIDE[name], faults=True)


def test_the_fast_path_is_taken_only_where_r10_is_never_written(monkeypatch):
    """The unchecked path is used for the in-frame accesses above and never once r10 is written."""
    taken = []
    original = MemoryModel._unchecked

    def spy(self, b, env, parts, size, write):
        pointer = original(self, b, env, parts, size, write)
        taken.append(pointer is not None)
        return pointer

    monkeypatch.setattr(MemoryModel, "_unchecked", spy)
    monkeypatch.setattr(compiler.cache, "cache_dir", lambda: None)  # translate afresh, not from the cache
    both(program(INSIDE["both edges of the frame"]), PACKETS[:1])
    assert taken and all(taken)
    taken.clear()
    both(program(OUTSIDE["r10 written: moved inside the frame, then past its top"]), PACKETS[:1])
    assert taken and not any(taken)
