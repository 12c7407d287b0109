"""The jit emits the packet accesses xdptool's verifier proves in bounds without a check
(runtime/jit/proofs.py), as the kernel's JIT trusts its verifier: results stay the vm's,
and whatever the verifier does not prove stays checked and faults as on the vm."""

from __future__ import annotations

import pytest

from test_jit_diff import PACKETS, agree_with_vm, program
from test_jit_unchanged import when_packet_holds

from xdptool.runtime.jit import compiler
from xdptool.runtime.jit.proofs import packet_proof
from xdptool.verifier import analyze


# Read byte 12 of the packet and write byte 0, after the range check the verifier needs.
CHECKED_FIRST = when_packet_holds(14, "r0 = *(u8 *)(r2 + 12)\n *(u8 *)(r2 + 0) = r0\n r0 &= 3\n exit")
# The same access with no range check: the verifier (and the kernel's) refuse it.
UNCHECKED = """
        r2 = *(u32 *)(r1 + 0)
        r0 = *(u8 *)(r2 + 60)
        r0 &= 3
        exit"""


def test_the_accesses_after_a_range_check_are_proven_and_nothing_else():
    prog = program(CHECKED_FIRST)
    assert analyze(prog).accepted
    assert packet_proof(prog).accesses == {5, 6}  # the packet load and store; not the ctx loads at 0 and 1


def test_a_program_the_verifier_refuses_has_no_proofs_and_faults_as_on_the_vm():
    prog = program(UNCHECKED)
    assert not analyze(prog).accepted
    assert packet_proof(prog).accesses == frozenset()
    short = [bytes(20)]  # byte 60 is past the end: a fault on both engines
    agree_with_vm(UNCHECKED, short + PACKETS[:2])


@pytest.mark.parametrize("packets", [PACKETS, [bytes(14), bytes(range(64))]])
def test_proven_accesses_agree_with_the_vm(packets):
    agree_with_vm(CHECKED_FIRST, packets, faults=False)


def test_the_compile_asks_for_proofs_only_with_a_program(monkeypatch):
    """Engines made from a Program get proofs (the cache key says so); raw instruction runs
    (the conformance suite: any r1) keep every access checked."""
    seen = []
    real = compiler._build
    monkeypatch.setattr(compiler, "_build", lambda units, *rest: seen.append(units[0].proven) or real(units, *rest))
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    agree_with_vm(CHECKED_FIRST, PACKETS[:1])
    assert seen == [frozenset({5, 6})]


# -- programs that only read the packet run in place (batch.py) ------------------------------

READS_ONLY = when_packet_holds(14, "r0 = *(u8 *)(r2 + 12)\n r0 &= 3\n exit")
# bpf_xdp_load_bytes(ctx, 0, dst, 8): into the stack, or into the packet itself
LOAD_BYTES_INTO = when_packet_holds(14, "r3 = {dst}\n r2 = 0\n r4 = 8\n call 189\n r0 = 2\n exit")
# bpf_csum_diff(NULL, 0, data + 12, 4, 0): a helper that reads the packet through a pointer
CSUM_OF_PACKET = when_packet_holds(16, "r3 = r2\n r3 += 12\n r1 = 0\n r2 = 0\n r4 = 4\n r5 = 0\n call 28\n"
                                                " r0 &= 3\n exit")

READ_ONLY_CASES = {
    "loads only": (READS_ONLY, True),
    "a helper reads the packet": (CSUM_OF_PACKET, True),
    "a helper writes the stack": (LOAD_BYTES_INTO.format(dst="r10\n        r3 += -8"), True),
    "a store into the packet": (CHECKED_FIRST, False),
    "a helper writes through a packet pointer": (LOAD_BYTES_INTO.format(dst="r2"), False),
    "a helper moves the packet": ("r2 = 0\n call 44\n r0 = 2\n exit", False),
    "a helper stores into the packet": ("r6 = 0\n *(u64 *)(r10 - 8) = r6\n r2 = 0\n r3 = r10\n r3 += -8\n"
                                        " r4 = 8\n call 190\n r0 = 2\n exit", False),
    "the verifier refuses it": (UNCHECKED, False),
}


@pytest.mark.parametrize("case", READ_ONLY_CASES)
def test_a_program_reads_only_when_nothing_it_does_can_write_the_packet(case):
    text, read_only = READ_ONLY_CASES[case]
    prog = program(text)
    assert analyze(prog).accepted == (case != "the verifier refuses it")
    assert packet_proof(prog).read_only is read_only


def jit_engine(text: str):
    from xdptool.runtime.config import RuntimeConfig
    from xdptool.runtime.jit import JitEngine
    from xdptool.runtime.maps import MapStore

    config = RuntimeConfig()
    return JitEngine(program(text), MapStore({}, config), config)


@pytest.mark.parametrize("case", ["loads only", "a helper reads the packet", "a helper writes the stack",
                                  "a store into the packet", "a helper writes through a packet pointer"])
def test_in_place_and_copied_runs_agree_with_the_vm(case, monkeypatch):
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    text, read_only = READ_ONLY_CASES[case]
    assert jit_engine(text).native.in_place is read_only
    agree_with_vm(text, PACKETS + [bytes(range(20)), bytes(15)])


def test_the_input_of_an_in_place_run_is_not_written_and_its_outputs_are_the_inputs(monkeypatch):
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    engine = jit_engine(READS_ONLY)
    packets = [bytes(range(i, i + 60)) for i in range(0, 80, 8)]
    buffer = bytearray(b"".join(packets))
    before = bytes(buffer)
    results = engine.run_packed(buffer, [60 * i for i in range(len(packets))], [60] * len(packets))
    assert engine.native.in_place
    assert bytes(buffer) == before
    assert [results.packet(i) for i in range(len(packets))] == packets
    assert not any(results.changed(i) for i in range(len(packets)))
    assert [results.retvals[i] for i in range(len(packets))] == [p[12] & 3 for p in packets]


def test_a_python_helper_of_an_in_place_run_reads_the_packet_from_the_frame(monkeypatch):
    """With csum_diff made a Python helper, the in-place loop copies each packet into the frame
    before the helper runs: its sums are the vm's."""
    from xdptool.platform.helpers import HELPER_ID
    from xdptool.runtime.jit import natives

    real = natives.native_emitters

    def without_csum_diff(*args, **kw):
        emitters = dict(real(*args, **kw))
        emitters.pop(HELPER_ID["csum_diff"])
        return emitters

    monkeypatch.setattr(natives, "native_emitters", without_csum_diff)
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    engine = jit_engine(CSUM_OF_PACKET)
    packets = [bytes([i]) * 40 for i in range(1, 9)]
    engine.run_batch(packets)
    assert engine.native.in_place and engine.helper_fallbacks() == {"bpf_csum_diff": len(packets)}
    agree_with_vm(CSUM_OF_PACKET, packets)


def test_a_program_wrongly_thought_read_only_faults_instead_of_writing_the_input(monkeypatch):
    """The packet region is not writable while the loop runs in place: a write the proof
    missed would fault, the input stays as it was."""
    from xdptool.runtime.jit import proofs

    monkeypatch.setattr(proofs, "packet_proof", lambda prog: proofs.PacketProof(frozenset(), True))
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    engine = jit_engine(CHECKED_FIRST)
    buffer = bytes(range(64))
    results = engine.run_packed(buffer, [0], [64])
    assert engine.native.in_place
    assert results.fault_codes[0] and results.faults[0].insn == 6  # the store, refused
    assert results.retvals[0] == 0 and not results.changed(0)
    assert buffer == bytes(range(64))


# A global function is checked on its own, its pointer argument typed as plain memory: the
# write it makes through a packet pointer shows in no fact of the packet's.
FUNCTIONS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__attribute__((noinline)) int zero_first(__u8 *p)
{
	if (!p)
		return 0;
	*p = 0;
	return 1;
}

static __attribute__((noinline)) int first(__u8 *p, __u8 *end)
{
	if (p + 1 > end)
		return 0;
	return *p;
}

SEC("xdp") int writes_in_global(struct xdp_md *ctx)
{
	__u8 *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;

	if (data + 1 > end)
		return XDP_PASS;
	return zero_first(data) + 1;
}

SEC("xdp") int reads_in_static(struct xdp_md *ctx)
{
	return first((void *)(long)ctx->data, (void *)(long)ctx->data_end) & 3;
}

char _license[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module")
def functions_object(tmp_path_factory):
    from test_jit_maps import compiled

    return compiled(tmp_path_factory.mktemp("proofs"), "functions", FUNCTIONS)


@pytest.mark.parametrize("name, read_only", [("writes_in_global", False), ("reads_in_static", True)])
def test_a_packet_pointer_given_to_a_global_function_may_be_written(functions_object, name, read_only, monkeypatch):
    from xdptool.runtime.jit import JitEngine
    from xdptool.runtime.maps import MapStore
    from xdptool.runtime.vm import VmEngine

    prog = next(p for p in functions_object.programs if p.name == name)
    assert analyze(prog).accepted
    assert packet_proof(prog).read_only is read_only
    monkeypatch.setenv("XDPTOOL_NO_CACHE", "1")
    jit = JitEngine(prog, MapStore.for_object(functions_object))
    vm = VmEngine(prog, MapStore.for_object(functions_object))
    packets = [bytes([7]) * 20, bytes([2]) * 60]
    assert [(r.retval, r.packet) for r in jit.run_batch(packets)] == [(r.retval, r.packet) for r in vm.run_batch(packets)]
    assert jit.native.in_place is read_only
