"""decode -> encode is the identity on every example object and on the conformance suite."""

from __future__ import annotations

from conftest import CONFORMANCE, needs_conformance
from xdptool.ebpf.conformance import load_suite
from xdptool.ebpf.insn import decode, encode
from xdptool.elf import load_object


def test_every_example_code_section_round_trips(built_examples):
    sections = 0
    for obj_path in built_examples.values():
        for section in load_object(obj_path).code_sections:
            assert encode(decode(section.data)) == section.data, (obj_path.name, section.name)
            sections += 1
    assert sections >= len(built_examples)


def test_linked_programs_encode_back_to_their_slots(built_examples):
    for obj_path in built_examples.values():
        for prog in load_object(obj_path).programs:
            data = encode(prog.insns)
            assert len(data) == 8 * prog.slot_count
            assert encode(decode(data)) == data


@needs_conformance
def test_conformance_suite_round_trips():
    cases = [c for c in load_suite(CONFORMANCE / "tests")]
    assert len(cases) == 313
    for case in cases:
        data = encode(case.insns)
        again = decode(data)
        assert encode(again) == data, case.name
        assert [i.pc for i in again] == [i.pc for i in case.insns], case.name
