"""Probe corpus: for each rule of the Linux nfp driver, a tiny program it accepts and one it refuses.

Every probe names the driver function it exercises (Netronome/nfp-drv-kmods src/bpf/,
the kernel's drivers/net/ethernet/netronome/nfp/bpf/); the expected messages are the
driver's own text, read in that source (not produced by xdptool), except the rows the
table marks as xdptool's (phase "xdptool").  The verdict is the verifier's `nfp`
profile, which `xdptool offload` asks first (nfp/check.py).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.elf import load_object
from xdptool.elf.model import MapDef, MapType, Object, Program, ProgType, Reloc, RelocKind
from xdptool.nfp.offload import offload
from xdptool.platform import nfp_driver as driver
from xdptool.verifier import analyze, get_profile

ACCEPTED = "accepted"
HASH8 = MapDef("m", MapType.HASH, 4, 8, 16)  # __u32 -> 8-byte value
EVENTS = MapDef("events", MapType.PERF_EVENT_ARRAY, 4, 4, 4)


def probe(text: str, *maps: MapDef) -> Program:
    """An XDP program from eBPF assembly; `r1 = 0 ll` loads the next map of `maps`."""
    program = Program("p", "xdp", ProgType.XDP, "xdp", assemble(text), [], "GPL")
    program.object = Object("t.o", [program], {m.name: m for m in maps}, "GPL", 0, [])
    loads = iter(maps)
    for insn in program.insns:
        if insn.is_ld_imm64 and insn.imm64 == 0:
            mapdef = next(loads)
            insn.src, insn.reloc = 1, Reloc(RelocKind.MAP, mapdef.name, map=mapdef.name)
    return program


def verdict(program: Program, profile: str = "nfp", firmware=None) -> str:
    result = analyze(program, get_profile(profile, firmware=firmware))
    return ACCEPTED if result.accepted else result.error.first_line


# -- ctx: nfp_bpf_check_store (verifier.c), xdp_is_valid_access (net/core/filter.c) -------------------------
QUEUE = "r2 = 3\n *(u32 *)(r1 + {off}) = r2\n r0 = 2\n exit\n"


def test_an_offloaded_program_may_select_its_rx_queue():
    program = probe(QUEUE.format(off=16))  # ctx->rx_queue_index = 3
    assert verdict(program) == ACCEPTED
    assert verdict(program, "linux") == "invalid bpf_context access off=16 size=4"  # host programs may not


def test_other_ctx_stores_get_the_drivers_message_before_the_kernels():
    assert verdict(probe(QUEUE.format(off=12))) == "unsupported store to context field"


def test_queue_selection_needs_the_firmwares_capability():
    firmware = dataclasses.replace(driver.DEFAULT_FIRMWARE, name="no-qsel", queue_select=False)
    assert verdict(probe(QUEUE.format(off=16)), firmware=firmware) == "queue selection not supported by FW"


def test_a_narrow_queue_store_is_the_kernels_refusal():
    """The driver only looks at insn->off; xdp_is_valid_access wants 4 bytes."""
    text = "r2 = 3\n *(u16 *)(r1 + 16) = r2\n r0 = 2\n exit\n"
    assert verdict(probe(text)) == "invalid bpf_context access off=16 size=2"


# -- ctx reads: jit.c mem_ldx_xdp translates data and data_end only ---------------------------------------------
def test_reading_data_and_data_end_translates():
    text = "r2 = *(u32 *)(r1 + 0)\n r3 = *(u32 *)(r1 + 4)\n r0 = 2\n exit\n"
    assert verdict(probe(text)) == ACCEPTED


def test_reading_rx_queue_index_fails_translation():
    program = probe("r0 = 2\n r2 = *(u32 *)(r1 + 16)\n exit\n")
    result = analyze(program, "nfp")
    assert result.error.first_line == "Translation failed with error -95 (translated: 1)"
    assert "mem_ldx_xdp" in result.error.message and "rx_queue_index" in result.error.message
    assert result.error.insn == 1
    assert verdict(program, "linux") == ACCEPTED


def test_a_ctx_read_in_dead_code_is_not_translated():
    """The kernel removes what it never reached (opt_remove_dead_code); nfp_translate skips it."""
    text = "r3 = 0\n if r3 == 0 goto out\n r2 = *(u32 *)(r1 + 16)\nout:\n r0 = 2\n exit\n"
    assert verdict(probe(text)) == ACCEPTED


# -- BPF_ST: jit.c mem_st; nfp_verify_insn records the pointer of STX stores only -----------------------------
def test_store_immediate_fails_translation_and_store_register_does_not():
    assert verdict(probe("r1 = 0\n *(u32 *)(r10 - 8) = r1\n r0 = 2\n exit\n")) == ACCEPTED
    result = analyze(probe("r0 = 2\n *(u32 *)(r10 - 8) = 0\n exit\n"), "nfp")
    assert result.error.first_line == "Translation failed with error -95 (translated: 1)"
    assert "mem_st" in result.error.message


# -- opcodes: nfp_verify_insn -> nfp_bpf_supported_opcode (jit.c instr_cb) -------------------------------------------
@pytest.mark.parametrize("text, code", [
    ("gotol +0", 0x06),  # JMP32 JA: no emitter
    ("r1 = bswap16 r1", 0xD7),
    ("r1 = le16 r1", 0xD4),
    ("r1 %= 3", 0x97),
    ("r1 s%= 3", 0x97),
    ("r1 = *(s8 *)(r10 - 8)", 0x91),
])
def test_opcodes_without_an_emitter(text, code):
    program = probe(f"r1 = 0\n *(u64 *)(r10 - 8) = r1\n {text}\n r0 = 2\n exit\n")
    assert verdict(program) == f"instruction {code:#x} not supported"


def test_their_neighbours_have_emitters():
    assert verdict(probe("r1 = 7\n goto +0\n r1 /= 3\n r1 = be16 r1\n r0 = 2\n exit\n")) == ACCEPTED


def test_jmp32_ja_is_printed_as_the_driver_prints_it():
    assert verdict(probe("gotol +0\n r0 = 2\n exit\n")) == "instruction 0x6 not supported"


# -- ours: the driver accepts ISA v4 signed forms and ignores their `off` -------------------------------------------
@pytest.mark.parametrize("text, what", [("r1 s/= 3", "sdiv"), ("r1 = (s8) r1", "movsx"), ("w1 = (s16) w1", "movsx")])
def test_signed_forms_the_jit_would_miscompile_are_xdptools_refusal(text, what):
    program = probe(f"r1 = 7\n {text}\n r0 = 2\n exit\n")
    message = verdict(program)
    assert message.startswith(f"xdptool refuses {what}") and "silent miscompile" in message
    assert driver.RULES["miscompile"].phase == "xdptool"
    assert verdict(program, "linux") == ACCEPTED


# -- mul and div: nfp_bpf_check_alu ---------------------------------------------------------------------------------------
def test_alu32_multiply_by_a_negative_immediate_is_accepted_alu64_is_not():
    assert verdict(probe("r1 = 5\n w1 *= -3\n r0 = 2\n exit\n")) == ACCEPTED
    assert verdict(probe("r1 = 5\n r1 *= -3\n r0 = 2\n exit\n")) == "sign extended multiplicand won't be within u32 value range"


def test_multiply_operands_must_be_u32():
    wide = "call 7\n r1 = r0\n r1 <<= 40\n"  # prandom << 40: beyond u32
    assert verdict(probe(wide + "r1 *= 3\n r0 = 2\n exit\n")) == "multiplier is not within u32 value range"
    assert verdict(probe(wide + "r2 = 3\n r2 *= r1\n r0 = 2\n exit\n")) == "multiplicand is not within u32 value range"


def test_a_divisor_is_one_constant_over_every_path():
    """meta->umin_src/umax_src gather all visits: two constant divisors are not one constant."""
    text = "call 7\n r1 = 100\n r2 = {a}\n if r0 > 5 goto div\n r2 = {b}\ndiv:\n r1 /= r2\n r0 = 2\n exit\n"
    assert verdict(probe(text.format(a=4, b=4))) == ACCEPTED
    assert verdict(probe(text.format(a=4, b=8))) == "divisor is not constant"
    assert verdict(probe("r1 = 100\n r1 /= -4\n r0 = 2\n exit\n")) == "divide by negative constant is not supported"


# -- atomics and map words: nfp_bpf_check_atomic, nfp_bpf_map_mark_used(_one), nfp_bpf_map_update_value_ok -----------------
LOOKUP = """
    r1 = 0
    *(u32 *)(r10 - 4) = r1
    r1 = 0 ll
    r2 = r10
    r2 += -4
    call 1
    if r0 == 0 goto out
"""
UPDATE = """
    r1 = {value}
    *(u32 *)(r10 - {slot}) = r1
    r1 = 0 ll
    r2 = r10
    r2 += -4
    r3 = r10
    r3 += -{slot}
    r4 = 0
    call 2
"""
OUT = "out:\n r0 = 2\n exit\n"


def test_atomic_add_only_into_map_values():
    assert verdict(probe(LOOKUP + "r1 = 1\n lock *(u32 *)(r0 + 0) += r1\n" + OUT, HASH8)) == ACCEPTED
    fetch = LOOKUP + "r1 = 1\n r1 = atomic_fetch_add((u32 *)(r0 + 0), r1)\n" + OUT
    assert verdict(probe(fetch, HASH8)) == "atomic op not implemented: 1"
    stack = "r1 = 0\n *(u64 *)(r10 - 8) = r1\n r1 = 1\n lock *(u64 *)(r10 - 8) += r1\n r0 = 2\n exit\n"
    assert verdict(probe(stack)) == "atomic add not to a map value pointer: 6"


def test_a_map_word_is_either_read_or_an_atomic_counter():
    other_word = LOOKUP + "r1 = *(u32 *)(r0 + 4)\n r1 = 1\n lock *(u32 *)(r0 + 0) += r1\n" + OUT
    assert verdict(probe(other_word, HASH8)) == ACCEPTED
    same_word = LOOKUP + "r1 = *(u32 *)(r0 + 0)\n r1 = 1\n lock *(u32 *)(r0 + 0) += r1\n" + OUT
    assert verdict(probe(same_word, HASH8)) == "map value use type conflict read vs atomic off: 0"
    assert verdict(probe(same_word, HASH8), "linux") == ACCEPTED


def test_an_update_may_not_store_non_zero_bytes_over_an_atomic_counter():
    """Both orders: the update after the add (update_value_ok) and the add after the update (mark_used_one)."""
    add = LOOKUP + "r1 = 1\n lock *(u32 *)(r0 + 0) += r1\n"
    # an 8-byte value at fp-12: its first word (fp-12) is not 8-aligned, so a zero there is STACK_ZERO
    zero_first_word = "r1 = 0\n *(u32 *)(r10 - 12) = r1\n *(u32 *)(r10 - 8) = r1\n"
    update = "r1 = 0 ll\n r2 = r10\n r2 += -4\n r3 = r10\n r3 += -12\n r4 = 0\n call 2\n"
    assert verdict(probe(add + zero_first_word + update + OUT, HASH8, HASH8)) == ACCEPTED
    nonzero = "r1 = 1\n *(u32 *)(r10 - 12) = r1\n r1 = 0\n *(u32 *)(r10 - 8) = r1\n"
    assert verdict(probe(add + nonzero + update + OUT, HASH8, HASH8)) == (
        "value at offset 0/11 may be non-zero, bpf_map_update_elem() is required to initialize atomic "
        "counters to zero to avoid offload endian issues")
    assert verdict(probe(nonzero + update + add + OUT, HASH8, HASH8)) == (
        "atomic counter in map value may already be initialized to non-zero value off: 0")


def test_an_aligned_zero_is_a_spilled_register_not_zero_bytes():
    """Since Linux 6.8 an 8-byte-aligned store of zero is tracked as a spill (check_stack_write_fixed_off),
    and the driver asks for STACK_ZERO: the same zero at fp-8 is refused, at fp-4 accepted."""
    counter = MapDef("m", MapType.HASH, 4, 4, 16)
    add = LOOKUP + "r1 = 1\n lock *(u32 *)(r0 + 0) += r1\n"
    update = "r1 = 0 ll\n r2 = r10\n r2 += -4\n r3 = r10\n r3 += -{slot}\n r4 = 0\n call 2\n"
    at = {slot: add + "r1 = 0\n" + f"*(u32 *)(r10 - {slot}) = r1\n" + update.format(slot=slot) + OUT for slot in (8, 12)}
    assert verdict(probe(at[12], counter, counter)) == ACCEPTED
    assert verdict(probe(at[8], counter, counter)).startswith("value at offset 0/7 may be non-zero")


def test_map_values_are_read_not_written():
    assert verdict(probe(LOOKUP + "r1 = 1\n *(u32 *)(r0 + 0) = r1\n" + OUT, HASH8)) == "map writes not supported"


# -- helpers and the firmware: nfp_bpf_check_helper_call, nfp_bpf_map_call_ok ------------------------------------------------
EVENT = """
    r6 = r1
    r1 = 0
    *(u64 *)(r10 - 8) = r1
    r1 = r6
    r2 = 0 ll
    r3 = {flags} ll
    r4 = r10
    r4 += -8
    r5 = 8
    call 25
    r0 = 2
    exit
"""


def test_perf_events_with_the_current_cpu_are_accepted():
    assert verdict(probe(EVENT.format(flags=0xFFFFFFFF), EVENTS)) == ACCEPTED
    assert verdict(probe(EVENT.format(flags=0x4000FFFFFFFF), EVENTS)) == ACCEPTED  # a length in the upper half


def test_perf_events_with_another_cpu_are_refused():
    assert verdict(probe(EVENT.format(flags=1), EVENTS)) == "event_output: must use BPF_F_CURRENT_CPU, var_off: (0x1; 0)"


def test_the_public_firmware_source_has_only_map_lookup():
    firmware = driver.FIRMWARES["nic-firmware"]
    assert verdict(probe(EVENT.format(flags=0xFFFFFFFF), EVENTS), firmware=firmware) == "event_output: not supported by FW"
    update = "r1 = 0\n *(u64 *)(r10 - 8) = r1\n" + UPDATE.format(value=0, slot=8) + "r0 = 2\n exit\n"
    assert verdict(probe(update, HASH8), firmware=firmware) == "map_update: not supported by FW"
    assert verdict(probe(LOOKUP + OUT, HASH8), firmware=firmware) == ACCEPTED


def test_helpers_outside_the_drivers_switch():
    assert verdict(probe("call 5\n r0 = 2\n exit\n")) == "unsupported function id: 5"  # ktime_get_ns
    assert verdict(probe("call 7\n r0 = 2\n exit\n")) == ACCEPTED  # get_prandom_u32


# -- maps: offload.c nfp_bpf_map_alloc with the firmware's limits ----------------------------------------------------------
def test_the_element_budget_is_the_devices():
    one = HASH8.replace(max_entries=2_048_000)
    assert verdict(probe(LOOKUP + OUT, one)) == ACCEPTED
    over = HASH8.replace(max_entries=2_048_001)
    assert verdict(probe(LOOKUP + OUT, over)) == "map with too many elements: 2048001, left: 2048000"
    big, second = (HASH8.replace(name=n, max_entries=1_500_000) for n in ("a", "b"))
    text = LOOKUP.replace("if r0 == 0 goto out", "") + LOOKUP + OUT
    assert verdict(probe(text, big, second)) == "map with too many elements: 1500000, left: 548000"


def test_a_perf_event_array_stays_on_the_host():
    """bpf_map_offload_neutral: nfp_bpf_map_alloc never sees it."""
    assert driver.map_refusals([EVENTS]) == []
    assert driver.map_refusals([MapDef("l", MapType.LRU_HASH, 4, 8, 16)])[0][1].startswith("map type lru_hash not supported")


# -- the stack: nfp_bpf_finalize / nfp_bpf_get_stack_usage --------------------------------------------------------------------
def calls(main: int, callees: dict[str, tuple[int, bool]], chain: bool) -> Program:
    """main uses `main` bytes and calls each callee (siblings) or the first, which calls the next (chain);
    a callee uses its bytes and writes r6 when asked (the JIT then saves r6-r9 in its frame)."""
    names = list(callees)
    lines = [f"r1 = 0\n *(u8 *)(r10 - {main}) = r1"]
    lines += [f"call {n}" for n in (names[:1] if chain else names)] + ["r0 = 2", "exit"]
    for index, (name, (size, saves)) in enumerate(callees.items()):
        lines += [f"{name}:", "r1 = 0", f"*(u8 *)(r10 - {size}) = r1"] + (["r6 = 1"] if saves else [])
        if chain and index + 1 < len(names):
            lines.append(f"call {names[index + 1]}")
        lines += ["r0 = 0", "exit"]
    return probe("\n".join(lines) + "\n")


def test_sibling_callees_share_the_stack_and_a_chain_adds_up():
    """64 (main) + 256 (f: 200 + 4 + 32 rounded to 64) for siblings; 64 + 256 + 256 as a chain."""
    frames = {"f": (200, True), "g": (200, True)}
    assert verdict(calls(8, frames, chain=False)) == ACCEPTED
    assert verdict(calls(8, frames, chain=True)) == "stack too large: program 576B > FW stack 512B"
    assert verdict(calls(8, frames, chain=True), "linux") == ACCEPTED  # the kernel counts 32-byte frames: 480


def test_saving_r6_to_r9_costs_32_bytes_of_the_callees_frame():
    """main 264 -> 320; f 188 + 4 -> 192 (512 fits), + 32 when f writes r6 -> 256 (576 does not)."""
    assert verdict(calls(264, {"f": (188, False)}, chain=True)) == ACCEPTED
    assert verdict(calls(264, {"f": (188, True)}, chain=True)) == "stack too large: program 576B > FW stack 512B"


# -- the offload reports what the profile decides, with the C line --------------------------------------------------------
def test_the_offload_json_reason_is_the_drivers_message():
    program = probe(QUEUE.format(off=12))
    doc = offload(program, estimate=False).as_json()
    assert doc["offloaded"] is False and doc["firmware"] == "agilio-bpf"
    reason = doc["reasons"][0]
    assert {"message", "insn", "file", "line"} <= set(reason)
    assert (reason["message"], reason["insn"]) == ("unsupported store to context field", 1)


# -- Netronome's samples: our own programs with their driver-relevant features, and the real ones -----------------------------
SAMPLES = Path(__file__).resolve().parent / "nfp_samples"


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    out = tmp_path_factory.mktemp("nfp_samples")

    def compile_one(source: Path, *includes: Path) -> Program:
        obj = toolchain.build(source, out / f"{source.stem}.o", includes=tuple(str(i) for i in includes)).output
        return load_object(str(obj)).program()

    return compile_one


@pytest.mark.parametrize("name", ["l4lb_like", "rss_like", "xdpdump_like"])
def test_our_programs_with_the_samples_features_are_accepted(name, build):
    program = build(SAMPLES / f"{name}.c")
    assert verdict(program) == ACCEPTED


def test_the_queue_selecting_sample_is_an_offload_only_program(build):
    assert verdict(build(SAMPLES / "rss_like.c"), "linux") == "invalid bpf_context access off=16 size=4"


SAMPLES_REPO = os.environ.get("XDPTOOL_BPF_SAMPLES", "https://github.com/Netronome/bpf-samples")  # or a local clone
REAL_SAMPLES = ["l4lb/l4lb_xdp.c", "programmable_rss/rss_kern.c", "xdpdump/xdpdump_kern.c"]


@pytest.fixture(scope="module")
def real_samples(tmp_path_factory):
    """Netronome/bpf-samples, cloned into the test's build tree (never committed); skipped offline."""
    if shutil.which("git") is None or shutil.which("clang") is None:
        pytest.skip("git or clang is not installed")
    checkout = tmp_path_factory.mktemp("bpf-samples") / "repo"
    try:
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", SAMPLES_REPO, str(checkout)], check=True,
                       capture_output=True, timeout=60)
    except (subprocess.SubprocessError, OSError):
        pytest.skip(f"cannot clone {SAMPLES_REPO} (offline?)")
    stub = checkout / "stub" / "gnu"  # the samples include <linux/string.h>; glibc asks for a 32-bit stub under -target bpf
    stub.mkdir(parents=True)
    (stub / "stubs-32.h").write_text("")
    return checkout


@pytest.mark.parametrize("path", REAL_SAMPLES)
def test_netronomes_samples_are_accepted(path, real_samples, build):
    program = build(real_samples / path, real_samples / "headers", real_samples / "stub")
    assert verdict(program) == ACCEPTED
