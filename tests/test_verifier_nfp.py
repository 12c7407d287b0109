"""The verifier's `nfp` profile: exactly what the NFP offload accepts, with the driver's messages.

The driver (drivers/net/ethernet/netronome/nfp/bpf/verifier.c) lets through only
its helpers (nfp_bpf_check_helper_call) and wants their stack-pointer arguments
4-byte aligned (nfp_bpf_stack_arg_ok); its map limits come from offload.c.  The
profile and `xdptool offload` read these rules from one table (platform/nfp_driver.py, platform/helpers.py),
so the two must agree on every example program.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.ebpf.opcodes import PseudoSrc
from xdptool.elf import load_object
from xdptool.elf.model import MapDef, MapType, Object, Program, ProgType, Reloc, RelocKind, Subprogram
from xdptool.nfp.offload import offload
from xdptool.verifier import analyze
from xdptool.platform.helpers import HELPER_ID, NFP_HELPERS, XDP_HELPERS
from xdptool.verifier.profiles import get_profile

EXAMPLES = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "programs").glob("*.c"))  # built_examples
HASH = {"m": MapDef("m", MapType.HASH, 4, 8, 16)}


def xdp(text: str, maps: dict | None = None) -> Program:
    program = Program("p", "xdp", ProgType.XDP, "xdp", assemble(text), [], "GPL")
    program.object = Object("t.o", [program], dict(maps or {}), "GPL", 0, [])
    for insn in program.insns:
        if insn.is_ld_imm64 and maps:
            insn.src, insn.reloc = 1, Reloc(RelocKind.MAP, "m", map="m")
    return program


# -- helpers -------------------------------------------------------------------------------------------
LOOP = """
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    r1 = 10
    r2 = 0 ll
    r3 = r10
    r3 += -8
    r4 = 0
    call 181
    r0 = 2
    exit
cb:
    r0 = 0
    exit
"""


def loop_program() -> Program:
    program = xdp(LOOP)
    ld = next(i for i in program.insns if i.is_ld_imm64)
    cb = program.slot_count - 2  # the callback's two instructions end the program
    ld.src, ld.imm = PseudoSrc.FUNC, cb - ld.pc - 1
    program.subprograms = [Subprogram("p", 0, cb, "xdp"), Subprogram("cb", cb, program.slot_count, ".text")]
    program.func_info = [(0, 1), (cb, 2)]  # the kernel wants BTF func_info for a callback's address
    return program


def test_bpf_loop_is_refused_under_nfp_and_accepted_under_linux():
    program = loop_program()
    assert analyze(program, "linux").accepted
    result = analyze(program, "nfp")
    assert not result.accepted
    assert result.error.first_line == "unsupported function id: 181"
    call = next(i.pc for i in program.insns if i.is_helper_call)
    assert result.error.insn == call


@pytest.mark.parametrize("name", ["ktime_get_ns", "get_smp_processor_id", "jiffies64", "redirect",
                                  "xdp_adjust_meta", "xdp_get_buff_len", "csum_diff", "trace_printk"])
def test_other_helpers_outside_the_drivers_list_are_refused(name):
    func_id = HELPER_ID[name]
    program = xdp(f"call {func_id}\n r0 = 2\n exit\n")
    result = analyze(program, "nfp")
    assert not result.accepted and result.error.first_line == f"unsupported function id: {func_id}"
    assert result.error.insn == 0


def test_an_id_the_kernel_does_not_know_gets_the_drivers_message():
    """The driver's hook runs before the kernel's checks (bpf_prog_offload_verify_insn)."""
    result = analyze(xdp("call 300\n r0 = 2\n exit\n"), "nfp")
    assert result.error.first_line == "unsupported function id: 300"
    assert analyze(xdp("call 300\n r0 = 2\n exit\n"), "linux").error.first_line.startswith("invalid func")


def test_the_nfp_profile_knows_only_the_drivers_helpers():
    # nfp_bpf_check_helper_call's switch (drivers/net/ethernet/netronome/nfp/bpf/verifier.c)
    driver_helpers = {"map_lookup_elem", "map_update_elem", "map_delete_elem", "get_prandom_u32",
                      "perf_event_output", "xdp_adjust_head", "xdp_adjust_tail"}
    profile = get_profile("nfp")
    assert {h.name for h in profile.helpers.values()} == driver_helpers
    assert all(profile.helpers[i] is XDP_HELPERS[i] for i in profile.helpers)
    assert set(get_profile("linux").helpers) > set(NFP_HELPERS)


def test_every_register_type_has_its_kernel_number():
    from xdptool.verifier.nfp_rules import KERNEL_REG_TYPE
    from xdptool.verifier.state import RegType

    assert set(KERNEL_REG_TYPE) == set(RegType)


def test_the_drivers_helpers_are_accepted():
    text = "call 7\n r0 &= 3\n exit\n"  # get_prandom_u32
    assert analyze(xdp(text), "nfp").accepted


# -- stack-pointer arguments ------------------------------------------------------------------------------
LOOKUP_TEXT = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    *(u32 *)(r10 - 8) = r1
    *(u32 *)(r10 - 12) = r1
    r1 = 0 ll
    r2 = r10
    r2 += -{key_off}
    {body}
    call 1
    r0 = 2
    exit
"""


def lookup(key_off: int, body: str = "") -> Program:
    return xdp("r6 = r1\n" + LOOKUP_TEXT.format(key_off=key_off, body=body), HASH)


def test_an_unaligned_map_key_is_refused_with_the_drivers_message_and_pc():
    program = lookup(6)
    assert analyze(program, "linux").accepted
    result = analyze(program, "nfp")
    assert not result.accepted
    assert result.error.first_line == "map_lookup: unaligned stack pointer 6"
    assert result.error.insn == next(i.pc for i in program.insns if i.is_helper_call)


@pytest.mark.parametrize("key_off", [4, 8, 12])
def test_aligned_map_keys_are_accepted(key_off):
    assert analyze(lookup(key_off), "nfp").accepted


def test_update_checks_the_value_pointer_too():
    text = """
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    *(u64 *)(r10 - 16) = r1
    *(u64 *)(r10 - 24) = r1
    r1 = 0 ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -{value}
    r4 = 0
    call 2
    r0 = 2
    exit
    """
    assert analyze(xdp(text.format(value=16), HASH), "nfp").accepted
    result = analyze(xdp(text.format(value=18), HASH), "nfp")
    assert result.error.first_line == "map_update: unaligned stack pointer 18"


def test_a_key_outside_the_stack_is_refused():
    """nfp_bpf_stack_arg_ok wants the stack: a key in a map value is PTR_TO_MAP_VALUE (4)."""
    text = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r1 = 0 ll
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto out
    r1 = 0 ll
    r2 = r0
    call 3
out:
    r0 = 2
    exit
    """
    assert analyze(xdp(text, HASH), "linux").accepted
    assert analyze(xdp(text, HASH), "nfp").error.first_line == "map_delete: unsupported ptr type 4"


def test_a_key_at_a_variable_stack_offset_is_refused():
    body = "r3 = *(u32 *)(r6 + 16)\n r3 &= 4\n r2 += r3"  # rx_queue_index & 4: fp-12 or fp-8 (the kernel refuses r2 -= r3)
    program = lookup(12, body)
    assert analyze(program, "linux").accepted
    assert analyze(program, "nfp").error.first_line == "map_lookup: variable pointer"


def test_c_source_line_of_an_unaligned_key(tmp_path):
    import shutil

    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    source = tmp_path / "key.c"
    source.write_text("""#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("xdp")
int prog(struct xdp_md *ctx)
{
	unsigned char buf[8] = {};
	buf[2] = bpf_get_prandom_u32(); /* the NFP JIT reads only data and data_end of xdp_md */
	__u64 *value = bpf_map_lookup_elem(&counts, &buf[KEY]);
	return value ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
""")
    programs = {}
    for key in (2, 4):
        obj = toolchain.build(source, tmp_path / f"key{key}.o", defines=(f"KEY={key}",)).output
        programs[key] = load_object(str(obj)).program()
    assert analyze(programs[4], "nfp").accepted
    result = analyze(programs[2], "nfp")
    assert analyze(programs[2], "linux").accepted and not result.accepted
    assert result.error.first_line == "map_lookup: unaligned stack pointer 6"
    assert result.error.line == 16 and "bpf_map_lookup_elem(&counts, &buf[KEY])" in result.error.source
    assert next(i for i in programs[2].insns if i.pc == result.error.insn).is_helper_call
    # the offload says the same, at the same place
    reason = offload(programs[2], estimate=False).reasons[0]
    assert (reason.message, reason.insn, reason.line) == (result.error.first_line, result.error.insn, 16)


# -- maps ----------------------------------------------------------------------------------------------------
def test_map_elements_are_rounded_to_8_bytes_as_the_driver_does():
    program = lookup(4)
    program.object.maps["m"] = MapDef("m", MapType.HASH, 28, 36, 16)  # 28 + 36 = 64, but 32 + 40 = 72
    result = analyze(program, "nfp")
    assert result.error.first_line == "map elements too large: 72, FW max element size (key+value): 64"


# -- the profile and the offload agree -----------------------------------------------------------------------
@pytest.mark.parametrize("name", EXAMPLES)
def test_the_nfp_profile_and_the_offload_agree_on_every_example(name, built_examples):
    for program in load_object(str(built_examples[name])).programs:
        result = analyze(program, "nfp", collect_facts=False)
        report = offload(program, estimate=False)
        assert result.accepted == report.offloaded, (result.error, [str(r) for r in report.reasons])
        if not result.accepted:
            assert report.reasons[0].message == result.error.first_line
