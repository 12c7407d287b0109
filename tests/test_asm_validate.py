"""`validate`: reserved fields, control flow and register initialisation.

Hand-written programs for each rule, and the kernel as oracle for the field
rules: random ALU and conditional-jump instructions (some fields perturbed) are
refused by `validate` exactly when the kernel's verifier refuses them.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdptool.ebpf.asm import assemble
from xdptool.ebpf.insn import Instruction, ld_imm64, renumber
from xdptool.ebpf.opcodes import VALID_OPCODES, AluOp, Cls, JmpOp, Src
from xdptool.ebpf.validate import InvalidProgram, validate


def refusal(text: str, **kw) -> str:
    with pytest.raises(InvalidProgram) as info:
        validate(assemble(text), **kw)
    return str(info.value)


def test_a_correct_program_passes():
    validate(assemble("mov %r0, 0\njeq %r1, 0, +1\nmov %r0, 2\nexit"))
    validate(assemble("mov %r0, %r2\nexit"), entry_regs={1, 2, 10})


# (program, message fragment)
RULES = [
    ("", "the program has no instructions"),
    ("mov %r0, 0\nja +5\nexit", "slot 1: jump to slot 7 leaves its (sub)program (slots 0-2)"),
    ("mov %r0, 0\nja -3\nexit", "slot 1: jump to slot -1 leaves"),
    ("mov %r0, 0\nja +1\nlddw %r1, 5\nexit", "slot 1: jump to slot 3, the middle of ld_imm64"),
    ("mov %r0, 0", "slot 0: the last instruction of a (sub)program must be exit or ja"),
    ("mov %r0, 0\ncall local f\nexit\nf:\nmov %r0, 1", "slot 3: the last instruction"),
    ("mov %r0, 0\ncall local f\nja f\nf:\nexit", "slot 2: jump to slot 3 leaves its (sub)program (slots 0-2)"),
    ("mov %r0, 0\ncall local +1\nlddw %r1, 1\nexit", "slot 1: local call to slot 3, which starts no instruction"),
    ("mov %r10, 0\nmov %r0, 0\nexit", "slot 0: r10 is the read-only frame pointer"),
    ("exit", "slot 0: r0 is read before it is written (kernel: R0 !read_ok)"),
    ("jeq %r1, 0, +1\nmov %r0, 0\nexit", "slot 2: r0 is read before it is written"),
    ("mov %r0, 0\ncall 1\nmov %r0, %r1\nexit", "slot 2: r1 is read before it is written"),
    ("mov %r0, 0\nlock cmpxchg [%r10-8], %r3\nexit", "slot 1: r3 is read before"),
    ("mov %r0, 0\nstxdw [%r10-8], %r6\nexit", "slot 1: r6 is read before"),
    ("mov %r0, 0\nmov %r3, %r2\nexit", "slot 1: r2 is read before"),
]


@pytest.mark.parametrize("text,fragment", RULES, ids=[r[1][:45] for r in RULES])
def test_rule(text, fragment):
    assert fragment in refusal(text)


def test_subprograms_start_with_their_arguments_and_r0_after_a_call():
    validate(assemble("mov %r1, 1\ncall local f\nexit\nf:\nmov %r0, %r5\nexit"))
    validate(assemble("mov %r0, 0\nlock fetch add [%r10-8], %r0\nmov %r2, %r0\nexit"))


def test_field_rules_name_the_field():
    def one(insn: Instruction) -> str:
        with pytest.raises(InvalidProgram) as info:
            validate(renumber([insn, Instruction(Cls.JMP | JmpOp.EXIT)]))
        return str(info.value)

    assert one(Instruction(0x8D)) == "slot 0: unknown opcode 0x8d"
    assert one(Instruction(0xDB, dst=10, src=1, off=-8, imm=0x02)) == (
        "slot 0: atomic: field imm must be one of 0, 1, 64, 65, 80, 81, 160, 161, 225, 241, got 2"
    )
    assert "lddw: field src must be one of 0, 1, 2, 3, 4, 5, 6, got 7" in one(ld_imm64(0, 1, pseudo=7))
    bad_second_slot = ld_imm64(0, 1)
    bad_second_slot.ext = b"\x00\x01\x00\x00"
    assert "second slot" in one(bad_second_slot)
    assert one(Instruction(0xB7, dst=11)) == "slot 0: mov imm: dst register r11 does not exist"
    assert "reserved field off must be 0, got 8" in one(Instruction(0xB4, dst=0, off=8))
    assert "field imm must be one of 16, 32, 64, got 8" in one(Instruction(0xD4, dst=0, imm=8))
    assert "call: field src must be one of 0, 1, 2, got 3" in one(Instruction(0x85, src=3, imm=1))
    assert "gotol: reserved field off must be 0" in one(Instruction(0x06, off=1))


# -- the kernel as oracle for the field rules ---------------------------------------------

_ALU_CODES = sorted(c for c in VALID_OPCODES if c & 7 in (Cls.ALU, Cls.ALU64))
_JCOND_CODES = sorted(
    c for c in VALID_OPCODES if c & 7 in (Cls.JMP, Cls.JMP32) and c & 0xF0 not in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT)
)
_SHIFTS = {AluOp.LSH, AluOp.RSH, AluOp.ARSH}


@st.composite
def perturbed(draw) -> Instruction:
    """An ALU or conditional-jump instruction on scalar registers, fields sometimes off-spec.

    Kept clear of what the kernel refuses for semantic reasons (division by a zero
    immediate, shift amounts outside the width, r10 as an operand, jumps elsewhere
    than the next instruction)."""
    code = draw(st.sampled_from(_ALU_CODES + _JCOND_CODES))
    insn = Instruction(code, dst=draw(st.integers(0, 9)))
    # r10 as a source would be pointer arithmetic; r11-r15 do not exist
    insn.src = draw(st.one_of(st.integers(0, 9), st.integers(11, 15))) if code & Src.X else draw(
        st.sampled_from([0, 0, 0, 1, 10, 15])
    )
    insn.imm = draw(st.sampled_from([0, 0, 1, 16, 32, 64, -1, 0x7FFFFFFF]))
    if code & 7 in (Cls.ALU, Cls.ALU64):
        insn.off = draw(st.sampled_from([0, 0, 0, 1, 8, 16, 32, -1]))
        op, width = code & 0xF0, 64 if code & 7 == Cls.ALU64 else 32
        if not code & Src.X and op in (AluOp.DIV, AluOp.MOD) and insn.imm == 0:
            insn.imm = 3
        if not code & Src.X and op in _SHIFTS and not 0 <= insn.imm < width:
            insn.imm = 1
    return insn


def _kernel_load():
    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason is not None:
        pytest.skip(f"kernel: {reason}")
    from xdptool.kernel.load import KernelRejected, load_program
    from xdptool.kernel.synthetic import synthetic_program

    def accepts(insns: list[Instruction]) -> tuple[bool, str]:
        try:
            with load_program(synthetic_program(insns, name="fields"), {}):
                return True, ""
        except KernelRejected as rejected:
            return False, rejected.reason

    return accepts


@pytest.mark.kernel
@given(insn=perturbed())
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_validate_refuses_exactly_what_the_kernel_refuses(insn):
    accepts = _kernel_load()
    setup = [Instruction(Cls.ALU64 | AluOp.MOV, dst=r) for r in range(10)]
    program = renumber([*setup, insn, Instruction(Cls.JMP | JmpOp.EXIT)])
    try:
        validate(program)
        ours = None
    except InvalidProgram as exc:
        ours = str(exc)
    kernel_ok, reason = accepts(program)
    assert (ours is None) == kernel_ok, f"{insn.encode().hex()}: validate={ours!r} kernel={reason!r}"
