"""Raw instruction streams: programs of random instructions (mostly valid opcodes with any
registers r0-r15, short jumps, odd immediates; sometimes any byte at all) in place of an
example's code, made into engines the way run and replay make them and run on one packet,
on the reference VM and on the JIT.  Only XdpError may escape (a refusal before running,
or an engine that cannot run the program); faults are results, not exceptions.
"""

from __future__ import annotations


import pytest
from .fuzz_support import fuzz, only_our_errors
from hypothesis import given
from hypothesis import strategies as st

from hostile_inputs import UDP_PACKET

EXIT_WITH_PASS = bytes.fromhex("b700000002000000" "9500000000000000")  # r0 = 2; exit
IMMEDIATES = st.sampled_from([0, 1, -1, 2, 4, 8, 14, 16, 32, 63, 64, 0x7FFFFFFF, -(1 << 31), 1 << 20]) | st.integers(
    -(1 << 31), (1 << 31) - 1)


@pytest.fixture(scope="session")
def template(built_examples):
    """An example program (with its object's maps) whose instructions each input replaces."""
    from xdptool.elf import load_object

    obj = load_object(built_examples["port_blocklist"])
    return obj.program()


@st.composite
def instruction(draw) -> bytes:
    from xdptool.ebpf.opcodes import VALID_OPCODES

    code = draw(st.sampled_from(sorted(VALID_OPCODES)) | st.integers(0, 255))
    dst = draw(st.integers(0, 10) | st.integers(0, 15))
    src = draw(st.integers(0, 10) | st.integers(0, 15))
    off = draw(st.integers(-4, 8) | st.sampled_from([0, 8, 16, 32, -512, 32767, -32768]))
    raw = bytes([code, src << 4 | dst]) + off.to_bytes(2, "little", signed=True)
    raw += draw(IMMEDIATES).to_bytes(4, "little", signed=True)
    if code == 0x18:  # ld_imm64: its second slot
        raw += bytes(4) + draw(IMMEDIATES).to_bytes(4, "little", signed=True)
    return raw


def program_from(template, code: bytes):
    from xdptool.ebpf.insn import decode
    from xdptool.elf.model import Subprogram

    insns = decode(code)
    slots = sum(i.slots for i in insns)
    return template.replace(insns=insns, func_info=[],
                            subprograms=[Subprogram(template.name, 0, slots, template.section)])


@fuzz(2)
@given(st.lists(instruction(), min_size=0, max_size=24), st.booleans())
def test_random_instruction_streams_run_or_are_refused(template, stream, ends_well):
    from xdptool.runtime.config import RuntimeConfig
    from xdptool.runtime.engines import make_engine

    code = b"".join(stream) + (EXIT_WITH_PASS if ends_well else b"")
    program = None
    with only_our_errors("insn streams"):
        program = program_from(template, code)
    for engine in ("vm", "jit") if program is not None else ():
        with only_our_errors(f"insn streams {engine}"):
            make_engine(engine, program, config=RuntimeConfig(max_insns=10_000)).run(UDP_PACKET)
