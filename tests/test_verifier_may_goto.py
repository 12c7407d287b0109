"""may_goto (BPF_JMP | BPF_JCOND, 0xe5; cond_break and can_loop in C): decoding, its
field checks and its log line, with the kernel's answers (Linux 6.18, recorded; the
`kernel` test asks again).  The loops themselves are corpus cases
(tests/verifier_corpus/*may_goto*)."""

from __future__ import annotations

import pytest

from xdptool.ebpf.insn import Instruction, renumber
from xdptool.elf.model import Object, Program, ProgType, Subprogram
from xdptool.verifier import analyze

MOV_R0_0, MOV_R0_1, EXIT = Instruction(0xB7, 0, 0, 0, 0), Instruction(0xB7, 0, 0, 0, 1), Instruction(0x95)


def program(*insns: Instruction) -> Program:
    insns = renumber([i.copy() for i in insns])
    prog = Program("may_goto", "xdp", ProgType.XDP, "xdp", insns, [Subprogram("may_goto", 0, len(insns), "xdp")],
                   "GPL", attach_type=37)
    prog.object = Object("may_goto", [prog], {}, "GPL", 0, [])
    return prog


# name -> (instructions, the kernel's first error line or None when it accepts)
CASES = {
    "taken_and_fallthrough": ((MOV_R0_0, Instruction(0xE5, 0, 0, 1, 0), MOV_R0_1, EXIT), None),
    "imm_set": ((MOV_R0_0, Instruction(0xE5, 0, 0, 1, 7), MOV_R0_1, EXIT), "invalid may_goto imm 7"),
    "dst_set": ((MOV_R0_0, Instruction(0xE5, 1, 0, 1, 0), MOV_R0_1, EXIT), "invalid may_goto imm 0"),
    "jmp32_form": ((MOV_R0_0, Instruction(0xE6, 0, 0, 1, 0), MOV_R0_1, EXIT), "unknown opcode e6"),
    "register_form": ((MOV_R0_0, Instruction(0xED, 0, 0, 1, 0), MOV_R0_1, EXIT), "unknown opcode ed"),
    # the taken side is walked first, the fall-through queued: the uninitialised r2 shows there
    "fallthrough_checked": ((MOV_R0_0, Instruction(0xE5, 0, 0, 1, 0), Instruction(0xBF, 0, 2, 0, 0), EXIT),
                            "R2 !read_ok"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdicts_are_the_kernels(name):
    insns, message = CASES[name]
    result = analyze(program(*insns), collect_facts=False)
    assert result.accepted == (message is None), result.error
    if message is not None:
        assert result.error.first_line == message


def test_log_names_it_as_the_kernel_does():
    log = analyze(program(*CASES["taken_and_fallthrough"][0]), log_level=1, collect_facts=False).log
    assert "1: (e5) may_goto pc+1" in log


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(CASES))
def test_the_running_kernel_agrees(name):
    from xdptool.kernel import kernel_unavailable_reason, verify_with_kernel

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(reason)
    insns, message = CASES[name]
    verdict = verify_with_kernel(program(*insns))
    assert verdict.accepted == (message is None), verdict.log
    if message is not None:
        assert verdict.last_line == message
