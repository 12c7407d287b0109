"""The bpf_conformance suite through the assembler, the case reader and `validate`.

Positive cases must assemble (and equal their `-- raw` bytes where given) and pass
`validate`; every negative case must fail at reading/assembly or at `validate`,
with a message naming the reason.  The kernel is the oracle for the negative cases
that survive assembly: it must refuse them too (or, for the wrong-result case,
compute a different r0).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.ebpf.conformance import CaseFormatError, load_suite, parse_case
from xdptool.ebpf.insn import decode, encode
from xdptool.ebpf.validate import InvalidProgram
from xdptool.errors import AsmError, XdpError

from conftest import CONFORMANCE, needs_conformance

SUITE = CONFORMANCE
TESTS = sorted((SUITE / "tests").glob("*.data"))
NEGATIVE = sorted((SUITE / "negative").glob("*.data"))
pytestmark = needs_conformance

# The one positive case `validate` refuses: callx (opcode 0x8d) is no ISA v4
# instruction (the kernel refuses it too: "unknown opcode 8d").
NOT_ISA = {"callx": "unknown opcode 0x8d"}
# Cases that assemble and validate but expect a wrong result (the harness must see it).
WRONG_RESULT = {"incorrect_return_value_high_bits"}

# negative case -> (error type, words its message must contain)
NEGATIVE_REASONS = {
    "empty": (CaseFormatError, ["neither", "result"]),
    "empty_instructions": (CaseFormatError, ["no program"]),
    "error": (InvalidProgram, ["r0", "read before it is written"]),
    "invalid_imm32_dec_range": (AsmError, ["line 5", "2147483648", "out of range for 32 bits"]),
    "invalid_imm32_hex_range": (AsmError, ["line 5", "0x100000000", "out of range for 32 bits"]),
    "invalid_label": (AsmError, ["line 4", "undefined label NOT_A_LABEL"]),
    "invalid_lock": (AsmError, ["line 4", "number of operands for lock"]),
    "invalid_lock2": (AsmError, ["line 4", "number of operands for lock"]),
    "invalid_mnemonic": (AsmError, ["line 5", "unknown mnemonic 'ldxq'"]),
    "invalid_offset": (AsmError, ["line 4", "memory operand", "'%r1'"]),
    "invalid_offset_range": (AsmError, ["line 5", "offset 0x10000 out of range for 16 bits"]),
    "invalid_operand_count": (AsmError, ["line 4", "lddw", "expected 2 operands, got 1"]),
    "invalid_register": (AsmError, ["line 4", "invalid register %r50"]),
    "invalid_unknown_directive": (CaseFormatError, [":4:", "unknown section '-- Unknown directive'"]),
}
# `unused-<insn>-<field>`: the file name says which field is wrongly non-zero.
FIELD_IN_NAME = {"offset": "off", "src": "src", "imm": "imm", "dst": "dst"}


def test_the_whole_suite_is_present():
    """The counts the suite's SOURCE.md promises (313 programs, 60 negative files)."""
    assert len(TESTS) == 313
    assert len(NEGATIVE) == 60


def test_every_program_assembles_and_validates():
    cases = load_suite(SUITE / "tests")
    assert [c.name for c in cases] == [p.stem for p in TESTS]
    refused = {}
    for case in cases:
        assert case.insns, case.name
        assert case.result is not None and case.error is None, case.name
        try:
            case.validate()
        except InvalidProgram as exc:
            refused[case.name] = str(exc)
    assert {name: msg.split(": ", 1)[1] for name, msg in refused.items()} == NOT_ISA


def test_raw_sections_equal_the_assembled_bytes():
    with_raw = [c for c in load_suite(SUITE / "tests") if c.raw is not None]
    assert with_raw, "the suite has a case with both -- asm and -- raw"
    for case in with_raw:
        assert encode(assemble(case.asm, syntax="conformance")) == case.raw
        assert encode(decode(case.raw)) == case.raw


def test_mem_and_result_sections_are_read():
    case = parse_case(SUITE / "tests" / "mem-len.data")
    assert case.mem == bytes([0, 0, 0, 1, 0, 0, 0, 2])
    assert case.result == 8
    lddw = parse_case(SUITE / "tests" / "lddw.data")
    assert lddw.raw == struct.pack("<3Q", 0x5566778800000018, 0x1122334400000000, 0x95)


def _failure(path: Path) -> XdpError:
    try:
        case = parse_case(path)
        case.validate()
    except XdpError as exc:
        return exc
    pytest.fail(f"{path.name}: no error from parse_case or validate")


@pytest.mark.parametrize("path", [p for p in NEGATIVE if p.stem not in WRONG_RESULT], ids=lambda p: p.stem)
def test_negative_case_fails_with_its_reason(path):
    exc = _failure(path)
    assert "\n" not in str(exc)
    if path.stem.startswith("unused-"):
        field = FIELD_IN_NAME[path.stem.rsplit("-", 1)[1]]
        assert isinstance(exc, InvalidProgram)
        assert str(exc).startswith("slot 0: ")
        assert f"field {field} must be" in str(exc)
        return
    kind, words = NEGATIVE_REASONS[path.stem]
    assert isinstance(exc, kind), f"{type(exc).__name__}: {exc}"
    for word in words:
        assert word in str(exc)


def test_every_negative_case_is_classified():
    named = {p.stem for p in NEGATIVE if not p.stem.startswith("unused-")}
    assert named == set(NEGATIVE_REASONS) | WRONG_RESULT


def test_wrong_result_case_disagrees_with_little_endian_load():
    """ldxdw r0, [r1+2] on its memory; the case's expected value differs from it."""
    case = parse_case(SUITE / "negative" / "incorrect_return_value_high_bits.data")
    case.validate()
    (value,) = struct.unpack_from("<Q", case.mem, 2)
    assert value != case.result


def test_asm_raw_disagreement_is_reported(tmp_path):
    path = tmp_path / "bad.data"
    path.write_text("-- asm\nmov %r0, 1\nexit\n-- raw\n0x00000002000000b7\n0x0000000000000095\n-- result\n0x1\n")
    with pytest.raises(CaseFormatError, match="disagree at byte 4 \\(slot 0\\)"):
        parse_case(path)


def test_bad_mem_byte_and_result_are_reported(tmp_path):
    path = tmp_path / "bad.data"
    path.write_text("-- asm\nexit\n-- mem\n00 zz\n-- result\n0x1\n")
    with pytest.raises(CaseFormatError, match=r"bad.data:4: invalid mem byte 'zz'"):
        parse_case(path)
    path.write_text("-- asm\nexit\n-- result\nnope\n")
    with pytest.raises(CaseFormatError, match="invalid result 'nope'"):
        parse_case(path)


# -- the kernel as oracle -----------------------------------------------------------------


def _kernel():
    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason is not None:
        pytest.skip(f"kernel: {reason}")
    from xdptool.kernel.conformance import run_conformance

    return run_conformance


@pytest.mark.kernel
def test_kernel_refuses_what_validate_refuses():
    """Every raw/asm program `validate` rejects, the kernel's verifier rejects as well."""
    run_conformance = _kernel()
    refused = []
    for path in [*NEGATIVE, *TESTS]:
        try:
            case = parse_case(path)
        except XdpError:
            continue  # never became a program
        try:
            case.validate()
        except InvalidProgram:
            refused.append(case)
    assert len(refused) == 47  # 45 unused-*, error.data, callx
    for case in refused:
        outcome = run_conformance(case.insns, case.mem, case.name[:15].replace("-", "_"))
        assert not outcome.accepted, f"{case.name}: kernel accepted what validate refused"


@pytest.mark.kernel
def test_kernel_computes_a_different_result_for_the_wrong_result_case():
    run_conformance = _kernel()
    case = parse_case(SUITE / "negative" / "incorrect_return_value_high_bits.data")
    outcome = run_conformance(case.insns, case.mem, "high_bits")
    assert outcome.accepted
    assert outcome.result != case.result
    assert outcome.result == struct.unpack_from("<Q", case.mem, 2)[0]
