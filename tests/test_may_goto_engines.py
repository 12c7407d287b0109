"""may_goto (0xe5; clang's cond_break and can_loop) through every stage but the verifier
(tests/test_verifier_may_goto.py): its text, the assembler, the vm and jit engines with
the kernel's per-frame loop budget, and the NFP driver's refusal.

The engines are held to the live kernel (BPF_PROG_TEST_RUN) on C programs of ours:
verdict, bytes and maps.  The kernel's budget is BPF_MAX_LOOPS counted per frame where
the JIT has none of its own, but the x86-64 JIT's is timed (250 ms, in batches of
0xffff: ebpf/semantics.py MayGoto), so for loops that exhaust it only what does not
depend on the count is compared, and the kernel's count is checked to be the timed one.
The vm runs those programs with a small budget (RuntimeConfig.may_goto_budget) against
the jit: the full budget takes the interpreter seconds per packet.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.ebpf.asm import assemble
from xdptool.ebpf.disasm import format_insn
from xdptool.ebpf.insn import Instruction, encode
from xdptool.ebpf.opcodes import MAY_GOTO
from xdptool.ebpf.semantics import MayGoto
from xdptool.ebpf.validate import InvalidProgram, validate
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime import jit as jit_engine
from xdptool.runtime import vm
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.maps import MapStore

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* may_goto as bytes (clang 14 has no mnemonic for it), after tools/testing/selftests/bpf/
 * bpf_experimental.h's cond_break and can_loop, little endian. */
#define MAY_GOTO(label) asm volatile goto("1:.byte 0xe5; .byte 0;" \
	".long ((%l[" #label "] - 1b - 8) / 8) & 0xffff; .short 0" :::: label)
#define cond_break ({ __label__ l_break, l_continue; MAY_GOTO(l_break); goto l_continue; \
	l_break: break; l_continue:; })
#define can_loop ({ __label__ l_break, l_continue; int ok = 1; MAY_GOTO(l_break); goto l_continue; \
	l_break: ok = 0; l_continue:; ok; })

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u64); } counts SEC(".maps");

static __always_inline void bump(__u32 key, __u64 by)
{
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		*v += by;
}

/* A loop bounded by the packet and guarded by cond_break: a hash of the index and two
 * packet bytes, p[0] times, written back into the packet. */
SEC("xdp") int bounded(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	if ((void *)(p + 16) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	__u32 n = p[0], sum = p[4], i;
	for (i = 0; i < n; i++) {
		sum = sum * 31 + (i ^ p[5]);
		cond_break;
	}
	p[1] = sum; p[2] = sum >> 8; p[3] = i;
	bump(0, i);
	return sum & 1 ? XDP_TX : XDP_PASS;
}

/* can_loop until the budget is spent.  Nothing the kernel can predict compares the count
 * (that would make it precise and the verifier would unroll the loop): the verdict says
 * whether it reached the packet's u16 at p[1]; the map adds the counts up. */
SEC("xdp") int exhaust(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	if ((void *)(p + 16) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	__u64 n = 0, reach = p[1] | (p[2] << 8);
	while (can_loop)
		n++;
	bump(1, n);
	if (n >= reach) {
		p[0] = 1;
		return XDP_PASS;
	}
	return XDP_DROP;
}

/* Each frame has its own budget: the subprogram spends its own, not its caller's. */
static __attribute__((noinline)) __u64 spend(__u64 seed)
{
	__u64 n = seed & 1;
	while (can_loop)
		n++;
	return n;
}

SEC("xdp") int frames(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	if ((void *)(p + 16) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	__u32 i, calls = 0;
	for (i = 0; i < 3; i++) {
		spend(p[0]);
		calls++;
		cond_break;
	}
	p[0] = calls;
	bump(2, calls);
	return calls == 3 ? XDP_PASS : XDP_DROP;
}

/* A tail call starts the target's budget afresh: this one spends its own first. */
int exhaust(struct xdp_md *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2);
         __type(key, __u32); __array(values, int (void *)); } jumps SEC(".maps") = {
	.values = { [0] = (void *)&exhaust },
};

SEC("xdp") int tail(struct xdp_md *ctx)
{
	__u64 n = 0;
	while (can_loop)
		n++;
	bump(3, n);
	bpf_tail_call(ctx, &jumps, 0);
	return XDP_ABORTED;
}

char _license[] SEC("license") = "GPL";
"""

REACH_FFFF = b"\0\xff\xff" + bytes(20)  # exhaust passes once its loop ran 0xffff times
PACKETS = {
    "bounded": [bytes([n, 0, 0, 0, s, x]) + bytes(range(30)) for n in (0, 1, 5, 40, 255) for s, x in ((0, 0), (7, 0x5a))],
    "exhaust": [REACH_FFFF, bytes(20)],  # two runs: each starts with a full budget
    "frames": [bytes([1]) + bytes(20)],
    "tail": [REACH_FFFF],
}
_KERNEL = kernel_unavailable_reason()


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("may_goto"), "may_goto_engines", SOURCE)


def counts(store: MapStore) -> list[int]:
    return [int.from_bytes(bytes.fromhex(e["value"]), "little") for e in store.dump()["counts"]]


def run(engine: str, obj, name: str, config: RuntimeConfig | None = None):
    """(the runs' (verdict, retval, bytes), the counts map) on a fresh map store."""
    from xdptool.runtime.engines import make_engine

    store = MapStore.for_object(obj, config)
    engine = make_engine(engine, obj.program(name), store, config)
    try:
        results = engine.run_batch(PACKETS[name])
    finally:
        engine.close()
    assert all(r.fault is None for r in results), [str(r.fault) for r in results]
    return [(r.verdict, r.retval, r.packet) for r in results], counts(store)


# -- the ISA layer ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, text", [
    (dict(off=3), "may_goto +3"), (dict(off=-2), "may_goto -2"), (dict(off=0), "may_goto +0"),
    (dict(dst=1, off=1), "<unknown>"), (dict(src=1, off=1), "<unknown>"), (dict(imm=5, off=1), "<unknown>"),
])
def test_text_is_llvms(fields, text):
    assert format_insn(Instruction(MAY_GOTO, **fields)) == text


def test_assembles_from_its_text_and_labels():
    insns = assemble("r0 = 0\nloop:\nmay_goto out\nr0 += 1\ngoto loop\nout:\nexit\n", syntax="llvm")
    assert encode(insns).hex() == "b700000000000000" "e500020000000000" "0700000001000000" "0500fdff00000000" \
                                  "9500000000000000"
    assert [format_insn(i) for i in insns][1] == "may_goto +2"
    assert assemble("may_goto -1\nexit", syntax="conformance")[0].encode() == Instruction(MAY_GOTO, off=-1).encode()
    assert insns[1].successors == (2, 4)


def _llvm19_clang() -> str | None:
    return next((c for c in (f"clang-{v}" for v in range(25, 18, -1)) if shutil.which(c)), None)


@pytest.mark.skipif(_llvm19_clang() is None, reason="no clang 19 or newer (the first LLVM that spells may_goto)")
def test_llvm_assembles_our_text_to_our_bytes(tmp_path):
    """LLVM 19+ reads `may_goto +N` (BPFInstrInfo.td: JMP_JCOND<BPF_JCOND, "may_goto">) as we write it."""
    insns = [Instruction(MAY_GOTO, off=2), Instruction(0xB7, imm=1), Instruction(MAY_GOTO, off=-3), Instruction(0x95)]
    source = tmp_path / "m.s"
    source.write_text("\t.text\nf:\n" + "".join(f"\t{format_insn(i)}\n" for i in insns))
    subprocess.run([_llvm19_clang(), "-target", "bpf", "-c", str(source), "-o", str(tmp_path / "m.o")], check=True)
    from elftools.elf.elffile import ELFFile

    with open(tmp_path / "m.o", "rb") as f:
        assert ELFFile(f).get_section_by_name(".text").data() == encode(insns)


def test_validation_wants_src_dst_imm_zero():
    validate([Instruction(MAY_GOTO, off=0, pc=0), Instruction(0xB7, pc=1), Instruction(0x95, pc=2)])
    for fields in (dict(dst=1), dict(src=1), dict(imm=1)):
        with pytest.raises(InvalidProgram, match="may_goto"):
            validate([Instruction(MAY_GOTO, off=0, pc=0, **fields), Instruction(0xB7, pc=1), Instruction(0x95, pc=2)])


# -- the engines -------------------------------------------------------------------------------------


@pytest.mark.parametrize("run_raw", [vm.run_raw, jit_engine.run_raw], ids=["vm", "jit"])
def test_budget_is_per_frame_and_counted_as_the_kernel_rewrites_it(run_raw):
    """A loop falls through exactly `budget` times, then leaves; a called subprogram gets a
    budget of its own at each call (do_misc_fixups puts the count's store in every
    subprogram's prologue) and leaves its caller's alone."""
    body = "r6 = 0\nr7 = 0\nloop:\nmay_goto out\ncall sub\nr6 += r0\nr7 += 1\nif r7 < 3 goto loop\nout:\n" \
           "r0 = r6\nr0 <<= 8\nr0 |= r7\nexit\nsub:\nr0 = 0\nagain:\nmay_goto done\nr0 += 1\ngoto again\ndone:\nexit\n"
    config = RuntimeConfig(may_goto_budget=1000)
    assert run_raw(assemble(body, syntax="llvm"), config=config) == (3 * 1000) << 8 | 3
    assert run_raw(assemble(body, syntax="llvm"), config=RuntimeConfig(may_goto_budget=2)) == (2 * 2) << 8 | 2  # the caller stops after 2


def test_default_budget_is_bpf_max_loops():
    insns = assemble("r0 = 0\nmay_goto +2\nr0 += 1\ngoto -3\nexit\n", syntax="llvm")
    assert jit_engine.run_raw(insns, config=RuntimeConfig(max_insns=30_000_000)) == MayGoto.budget == 8 * 1024 * 1024


@pytest.mark.parametrize("name", list(PACKETS))
def test_vm_and_jit_agree_with_a_small_budget(obj, name):
    """Every observable (instruction counts too), run by run and batched."""
    config = RuntimeConfig(may_goto_budget=70_000)
    outcomes, dumps = [], []
    for engine_class in (vm.VmEngine, jit_engine.JitEngine):
        store = MapStore.for_object(obj, config)
        engine = engine_class(obj.program(name), store, config)
        outcomes.append([observable(engine.run(p)) for p in PACKETS[name]])
        dumps.append(store.dump())
    assert outcomes[1] == outcomes[0]
    assert dumps[1] == dumps[0]
    assert all(o[0] != "XDP_ABORTED" for o in outcomes[0]), outcomes[0]


def test_exhausted_loops_give_what_the_program_says(obj):
    verdicts, totals = run("jit", obj, "exhaust", RuntimeConfig(max_insns=100_000_000))
    assert [v[0] for v in verdicts] == ["XDP_PASS", "XDP_PASS"]  # the second run had a full budget again
    assert totals[1] == 2 * MayGoto.budget
    _, totals = run("jit", obj, "tail", RuntimeConfig(max_insns=100_000_000))
    assert totals[3] == totals[1] == MayGoto.budget  # the tail-called program's own budget


def test_a_runaway_fault_names_the_budget(obj):
    result = jit_engine.JitEngine(obj.program("exhaust"), MapStore.for_object(obj)).run(REACH_FFFF)
    assert "may_goto loops may each run 8388608 times per frame" in result.fault.message


# -- against the kernel ------------------------------------------------------------------------------


def timed_or_counted(count: int, frames: int) -> bool:
    """A kernel count of `frames` exhausted budgets: whole timed batches, at least two per
    frame (the first batch, then at least one refresh before 250 ms can have passed), or
    BPF_MAX_LOOPS each where the JIT counts."""
    timed = count % MayGoto.timed_batch == 0 and count >= 2 * frames * MayGoto.timed_batch
    return timed or count == frames * MayGoto.budget


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_bounded_loops_agree_with_the_kernel(obj, engine):
    assert run(engine, obj, "bounded") == run("kernel", obj, "bounded")


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("name, exhausted", [("exhaust", {1: 2}), ("frames", {}), ("tail", {1: 1, 3: 1})])
def test_exhausted_loops_agree_with_the_kernel_but_for_the_count(obj, name, exhausted):
    """Verdicts, bytes and the counts that do not depend on the budget are equal; where a
    loop ran its budget out (map key -> how many frames did), ours counted BPF_MAX_LOOPS per
    frame and the kernel's count is its own (each test run and each frame starts afresh)."""
    ours, our_counts = run("jit", obj, name, RuntimeConfig(max_insns=100_000_000))
    theirs, their_counts = run("kernel", obj, name)
    assert ours == theirs
    for key in range(len(our_counts)):
        if key in exhausted:
            assert our_counts[key] == exhausted[key] * MayGoto.budget
            assert timed_or_counted(their_counts[key], exhausted[key]), their_counts[key]
        else:
            assert our_counts[key] == their_counts[key]


# -- the NFP -----------------------------------------------------------------------------------------


def test_the_nfp_refuses_it_with_the_drivers_message(obj):
    """nfp_verify_insn: "instruction %#02x not supported" (jit.c's instr_cb has no JCOND
    emitter), when the kernel's walk reaches the may_goto (platform/nfp_driver.py)."""
    from xdptool.platform.nfp_driver import SUPPORTED_OPCODES, message
    from xdptool.verifier import analyze

    assert MAY_GOTO not in SUPPORTED_OPCODES
    result = analyze(obj.program("bounded"), profile="nfp", collect_facts=False)
    assert not result.accepted
    assert result.error.first_line == message("opcode", code=MAY_GOTO) == "instruction 0xe5 not supported"
    assert obj.program("bounded").insns[result.error.insn].is_may_goto
