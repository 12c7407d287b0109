"""Helpers: success and errno paths, by hand and against the kernel (same program, same
maps: return value, output packet and final map state must agree)."""

from __future__ import annotations

import errno

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_runtime_support import PACKET, array, hash_map, u32, u64, vm, xdp
from xdptool.elf.model import MapDef, MapType
from xdptool.errors import XdpError
from xdptool.runtime.config import FibRoute, RuntimeConfig
from xdptool.runtime.engines import make_engine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

NEG = lambda e: (-e) & 0xFFFFFFFF  # noqa: E731  (an errno as a u32 XDP return value)

# -- programs compared with the kernel --------------------------------------------------
# name -> (asm, maps, initial state)
KEY0 = "*(u32 *)(r10 - 4) = 0\nr2 = r10\nr2 += -4\n"
DIFF = {
    "update_noexist_then_exist": ("""
*(u32 *)(r10 - 4) = 7
*(u64 *)(r10 - 16) = 99
r1 = map:h
r2 = r10
r2 += -4
r3 = r10
r3 += -16
r4 = 1
call 2
r6 = r0
r1 = map:h
r2 = r10
r2 += -4
r3 = r10
r3 += -16
r4 = 1
call 2
r0 <<= 8
r0 |= r6
exit
""", [hash_map()], {}),
    "update_full_hash": ("""
*(u32 *)(r10 - 4) = 9
*(u64 *)(r10 - 16) = 1
r1 = map:h
r2 = r10
r2 += -4
r3 = r10
r3 += -16
r4 = 0
call 2
exit
""", [hash_map(max_entries=2)], {"h": [{"key": u32(1).hex(), "value": u64(1).hex()},
                                       {"key": u32(2).hex(), "value": u64(2).hex()}]}),
    "update_bad_flags": ("""
*(u32 *)(r10 - 4) = 1
r1 = map:arr
r2 = r10
r2 += -4
r3 = r10
r3 += -4
r4 = 4
call 2
exit
""", [array(value_size=4)], {}),
    "delete_missing_and_array": ("""
*(u32 *)(r10 - 4) = 3
r1 = map:h
r2 = r10
r2 += -4
call 3
r6 = r0
r6 &= 255
r1 = map:arr
r2 = r10
r2 += -4
call 3
r0 <<= 8
r0 |= r6
exit
""", [hash_map(), array()], {}),
    "lookup_and_increment": ("""
*(u32 *)(r10 - 4) = 2
r1 = map:arr
r2 = r10
r2 += -4
call 1
if r0 == 0 goto +3
r1 = 5
lock *(u64 *)(r0 + 0) += r1
r0 = *(u64 *)(r0 + 0)
exit
""", [array()], {"arr": [{"key": u32(2).hex(), "value": u64(10).hex()}]}),
    "queue_push_pop_peek": ("""
*(u32 *)(r10 - 4) = 11
r1 = map:q
r2 = r10
r2 += -4
r3 = 0
call 87
*(u32 *)(r10 - 4) = 22
r1 = map:q
r2 = r10
r2 += -4
r3 = 0
call 87
r1 = map:q
r2 = r10
r2 += -4
r3 = 0
call 87
r6 = r0
r6 &= 255
r1 = map:q
r2 = r10
r2 += -8
call 88
r1 = map:q
r2 = r10
r2 += -12
call 89
r0 = *(u32 *)(r10 - 8)
r1 = *(u32 *)(r10 - 12)
r0 <<= 8
r0 |= r1
r0 <<= 8
r0 |= r6
exit
""", [MapDef("q", MapType.QUEUE, 0, 4, 2)], {}),
    "stack_pop_empty": ("""
r1 = map:s
r2 = r10
r2 += -8
call 88
exit
""", [MapDef("s", MapType.STACK, 0, 4, 2)], {}),
    "csum_diff": ("""
r2 = *(u32 *)(r1 + 0)
r3 = *(u32 *)(r1 + 4)
r4 = r2
r4 += 40
if r4 > r3 goto +10
r1 = r2
r1 += 14
r2 = 20
r3 = r10
r3 += -8
*(u64 *)(r10 - 8) = 0x12345
r4 = 8
r5 = 0xffff
call 28
exit
r0 = 1
exit
""", [], {}),
    "csum_diff_odd_size": ("""
r1 = r10
r1 += -8
*(u64 *)(r10 - 8) = 1
r2 = 6
r3 = 0
r4 = 0
r5 = 0
call 28
exit
""", [], {}),
    "load_store_bytes": ("""
r6 = r1
r2 = 10
r3 = r10
r3 += -8
r4 = 8
call 189
r7 = r0
r7 &= 255
r1 = r6
r2 = 0
r3 = r10
r3 += -8
r4 = 4
call 190
r1 = r6
r2 = 60
r3 = r10
r3 += -8
r4 = 8
call 189
r0 <<= 8
r0 |= r7
exit
""", [], {}),
    "buff_len": ("call 188\nexit", [], {}),
    "redirect_flags": ("""
r1 = 3
r2 = 0
call 23
r6 = r0
r1 = 3
r2 = 1
call 23
r0 <<= 8
r0 |= r6
exit
""", [], {}),
    "redirect_map_fallback": ("""
r1 = map:dev
r2 = 3
r3 = 2
call 51
r6 = r0
r1 = map:dev
r2 = 3
r3 = 64
call 51
r0 <<= 8
r0 |= r6
exit
""", [MapDef("dev", MapType.DEVMAP, 4, 4, 4)], {}),
    "smp_processor_id": ("call 8\nr0 += 100\nexit", [], {}),
    "bpf_loop_sum": ("""
*(u64 *)(r10 - 8) = 0
r1 = 10
r2 = 0 ll
r3 = r10
r3 += -8
r4 = 0
call 181
r1 = *(u64 *)(r10 - 8)
r0 <<= 16
r0 |= r1
exit
cb:
r3 = *(u64 *)(r2 + 0)
r3 += r1
*(u64 *)(r2 + 0) = r3
r0 = 0
if r1 != 6 goto +1
r0 = 1
exit
""", [], {}),
}


def build(name):
    asm, maps, state = DIFF[name]
    program = xdp(asm, maps)
    if name == "bpf_loop_sum":  # the callback pointer: ld_imm64 src=BPF_PSEUDO_FUNC
        from xdptool.ebpf.opcodes import PseudoSrc

        insn = program.insns[2]
        cb = next(i.pc for i in program.insns if i.code == 0x79 and i.src == 2)  # first insn of cb
        insn.src, insn.imm = PseudoSrc.FUNC, cb - insn.pc - 1
        from xdptool.elf.model import Subprogram

        program.subprograms = [Subprogram("prog", 0, cb, "xdp"), Subprogram("cb", cb, program.slot_count, "xdp")]
    return program, state


def run_on(target, name, packet=PACKET):
    program, state = build(name)
    store = MapStore(program.object.maps)
    store.load(state)
    engine = make_engine(target, program, store)
    try:
        result = engine.run(packet)
    finally:
        if hasattr(engine, "close"):
            engine.close()
    return result, store.dump()


EXPECTED_BY_HAND = {
    "update_noexist_then_exist": (NEG(errno.EEXIST) << 8 | 0) & 0xFFFFFFFF,
    "update_full_hash": NEG(errno.E2BIG),
    "update_bad_flags": NEG(errno.EINVAL),
    "delete_missing_and_array": ((NEG(errno.EINVAL) << 8) | (NEG(errno.ENOENT) & 0xFF)) & 0xFFFFFFFF,
    "lookup_and_increment": 15,
    "queue_push_pop_peek": (11 << 16 | 22 << 8 | NEG(errno.E2BIG) & 0xFF),
    "stack_pop_empty": NEG(errno.ENOENT),
    "csum_diff_odd_size": 0xFFFE,  # ~1 folded: sizes need not be multiples of 4 since 6.13
    "buff_len": len(PACKET),
    "redirect_flags": 0 << 8 | 4,
    "redirect_map_fallback": 0 << 8 | 2,
    "smp_processor_id": 100,
    "bpf_loop_sum": 7 << 16 | 21,
}


@pytest.mark.parametrize("name", sorted(EXPECTED_BY_HAND))
def test_by_hand(name):
    result, _ = run_on("vm", name)
    assert result.fault is None, result.fault
    assert result.retval == EXPECTED_BY_HAND[name]


# bpf_loop needs BTF func_info for its callback, which a hand-assembled program lacks;
# compiled C programs with bpf_loop are compared with the kernel in test_vm_programs.py.
KERNEL_DIFF = sorted(set(DIFF) - {"bpf_loop_sum"})


@pytest.mark.kernel
@pytest.mark.parametrize("name", KERNEL_DIFF)
def test_matches_kernel(name):
    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(f"kernel: {reason}")
    expected, kmaps = run_on("kernel", name)
    got, maps = run_on("vm", name)
    assert got.fault is None, got.fault
    if name in QUEUES:
        maps = kmaps = None
    assert (got.retval, got.packet, maps) == (expected.retval, expected.packet, kmaps)


QUEUES = {"queue_push_pop_peek", "stack_pop_empty"}  # bpf(2) cannot iterate queues: no dump to compare


# -- what the kernel cannot report -----------------------------------------------------------

def test_redirect_targets_are_reported():
    result, _ = run_on("vm", "redirect_flags")
    assert result.retval == 0 << 8 | 4  # last call aborted, so no REDIRECT verdict
    engine, _ = vm("r1 = 7\nr2 = 0\ncall 23\nexit")
    assert engine.run(PACKET).redirect == {"ifindex": 7}
    engine, store = vm("r1 = map:dev\nr2 = 1\nr3 = 0\ncall 51\nexit", [MapDef("dev", MapType.DEVMAP, 4, 4, 4)])
    store["dev"].update(u32(1), u32(12))
    result = engine.run(PACKET)
    assert result.verdict == "XDP_REDIRECT" and result.redirect == {"map": "dev", "key": 1, "ifindex": 12}
    engine, store = vm("r1 = map:cpus\nr2 = 1\nr3 = 0\ncall 51\nexit", [MapDef("cpus", MapType.CPUMAP, 4, 4, 4)])
    store["cpus"].update(u32(1), u32(192))
    assert engine.run(PACKET).redirect == {"map": "cpus", "key": 1, "cpu": 1, "qsize": 192}


def test_clock_and_random_are_deterministic():
    asm = "call 5\nr6 = r0\ncall 5\nr0 -= r6\nexit"
    engine, _ = vm(asm, config=RuntimeConfig(clock_step_ns=250))
    assert engine.run(PACKET).retval == 250
    rand = "call 7\nexit"
    a, _ = vm(rand, config=RuntimeConfig(prandom_seed=1))
    b, _ = vm(rand, config=RuntimeConfig(prandom_seed=1))
    c, _ = vm(rand, config=RuntimeConfig(prandom_seed=2))
    seq_a = [a.run(PACKET).retval for _ in range(5)]
    assert seq_a == [b.run(PACKET).retval for _ in range(5)]
    assert seq_a != [c.run(PACKET).retval for _ in range(5)] and len(set(seq_a)) == 5
    engine, _ = vm("call 118\nexit", config=RuntimeConfig(jiffies=1234))
    assert engine.run(PACKET).retval == 1234


def printk(fmt: bytes, *args: int, config=None):
    fmt += b"\0"
    lines = ["r6 = r1"]
    for i in range(0, len(fmt), 8):
        chunk = fmt[i:i + 8].ljust(8, b"\0")
        lines.append(f"r1 = {int.from_bytes(chunk, 'little')} ll")
        lines.append(f"*(u64 *)(r10 - {64 - i}) = r1")
    lines += ["r1 = r10", "r1 += -64", f"r2 = {len(fmt)}"]
    for reg, value in zip((3, 4, 5), args):
        lines.append(f"r{reg} = {value} ll")
    lines += ["call 6", "exit"]
    engine, _ = vm("\n".join(lines), config=config)
    return engine.run(PACKET)


def test_trace_printk_formats_and_captures():
    result = printk(b"x=%d u=%u h=%x\n", (1 << 64) - 5, 7, 255)
    assert result.trace_printk == ["x=-5 u=7 h=ff"]
    assert result.retval == len("x=-5 u=7 h=ff\n")
    assert printk(b"%lld %llx %c%%", (1 << 64) - 1, 1 << 40, 65).trace_printk == ["-1 10000000000 A%"]
    assert printk(b"%d", 0x1_0000_0007).trace_printk == ["7"]  # %d takes 32 bits


def test_trace_printk_refuses_bad_formats():
    assert printk(b"%d %d %d %d", 1, 2, 3).retval == NEG(errno.EINVAL)  # a 4th conversion
    assert printk(b"%q", 1).retval == NEG(errno.EINVAL)


def test_ringbuf_and_perf_events_are_captured():
    rb = MapDef("rb", MapType.RINGBUF, 0, 0, 4096)
    engine, _ = vm("""
*(u64 *)(r10 - 8) = 0x44434241
r1 = map:rb
r2 = r10
r2 += -8
r3 = 4
r4 = 0
call 130
r1 = map:rb
r2 = 16
r3 = 0
call 131
if r0 == 0 goto +6
r1 = 0x5a
*(u8 *)(r0 + 15) = r1
r1 = r0
r2 = 0
call 132
r0 = 2
exit
r0 = 1
exit
""", [rb])
    result = engine.run(PACKET)
    assert result.retval == 2
    assert result.events == [{"type": "ringbuf", "map": "rb", "data": "41424344"},
                             {"type": "ringbuf", "map": "rb", "data": "00" * 15 + "5a"}]
    perf = MapDef("ev", MapType.PERF_EVENT_ARRAY, 4, 4, 0)
    engine, _ = vm("""
*(u32 *)(r10 - 4) = 0x01020304
r2 = map:ev
r3 = 0x6ffffffff ll
r4 = r10
r4 += -4
r5 = 4
call 25
exit
""", [perf], config=RuntimeConfig(ncpus=2, cpu=1))
    result = engine.run(PACKET)
    assert result.retval == 0
    assert result.events == [{"type": "perf", "map": "ev", "cpu": 1, "data": "04030201" + PACKET[:6].hex()}]


def test_ringbuf_full_gives_eagain():
    rb = MapDef("rb", MapType.RINGBUF, 0, 0, 32)
    engine, _ = vm("""
r1 = map:rb
r2 = r10
r2 += -8
*(u64 *)(r10 - 8) = 0
r3 = 8
r4 = 0
call 130
r6 = r0
r1 = map:rb
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call 130
r7 = r0
r1 = map:rb
r2 = r10
r2 += -8
r3 = 8
r4 = 0
call 130
r0 <<= 8
r0 |= r6
exit
""", [rb])
    result = engine.run(PACKET)
    assert result.retval == (NEG(errno.EAGAIN) << 8) & 0xFFFFFFFF
    assert len(result.events) == 2


def fib_program():
    return """
r6 = r1
r1 = 0
*(u64 *)(r10 - 64) = r1
*(u64 *)(r10 - 56) = r1
*(u64 *)(r10 - 48) = r1
*(u64 *)(r10 - 40) = r1
*(u64 *)(r10 - 32) = r1
*(u64 *)(r10 - 24) = r1
*(u64 *)(r10 - 16) = r1
*(u64 *)(r10 - 8) = r1
*(u8 *)(r10 - 64) = 2
*(u16 *)(r10 - 58) = 100
*(u32 *)(r10 - 32) = 0x0300020a
r1 = r6
r2 = r10
r2 += -64
r3 = 64
r4 = 0
call 69
r1 = *(u32 *)(r10 - 56)
r1 <<= 8
r0 |= r1
r1 = *(u8 *)(r10 - 1)
r1 <<= 16
r0 |= r1
exit
"""


def test_fib_lookup_from_the_table():
    routes = [FibRoute("10.0.0.0/8", ifindex=2, dmac="02:00:00:00:00:aa"),
              FibRoute("10.2.0.0/16", ifindex=3, dmac="02:00:00:00:00:bb")]
    engine, _ = vm(fib_program(), config=RuntimeConfig(fib_table=routes))
    assert engine.run(PACKET).retval == 0xBB << 16 | 3 << 8 | 0
    engine, _ = vm(fib_program(), config=RuntimeConfig())
    assert engine.run(PACKET).retval == 4  # BPF_FIB_LKUP_RET_NOT_FWDED
    engine, _ = vm(fib_program(), config=RuntimeConfig(fib_table=[FibRoute("10.0.0.0/8", 2, mtu=64)]))
    assert engine.run(PACKET).retval == 8  # FRAG_NEEDED: tot_len 100 > mtu 64


def test_tail_call_replaces_the_program_and_counts():
    from xdptool.ebpf.asm import assemble
    from xdptool.elf.model import Program, ProgType, Subprogram

    jumps = MapDef("jumps", MapType.PROG_ARRAY, 4, 4, 2, extra={"values": {0: "second"}})
    first = xdp("r2 = map:jumps\nr3 = 0\ncall 12\nr0 = 1\nexit", [jumps], name="first")
    insns = assemble("r0 = 3\nexit")
    second = Program("second", "xdp", ProgType.XDP, "xdp", insns, [Subprogram("second", 0, 2, "xdp")], "GPL")
    first.object.programs.append(second)
    second.object = first.object
    store = MapStore.for_object(first.object)
    assert VmEngine(first, store).run(PACKET).retval == 3
    store["jumps"].delete(u32(0))
    assert VmEngine(first, store).run(PACKET).retval == 1  # empty slot: falls through
    loop = xdp("r6 = r1\nr1 = r6\nr2 = map:jumps\nr3 = 0\ncall 12\nr0 = 7\nexit", [jumps], name="looping")
    store = MapStore(loop.object.maps)
    store["jumps"].set_program(0, 0)  # calls itself: stops after 33 tail calls
    result = VmEngine(loop, store).run(PACKET)
    assert result.retval == 7 and result.insns_executed == 34 * 5 + 2  # 33 calls succeed, the 34th falls through


def test_unknown_helpers_are_refused_at_creation():
    with pytest.raises(XdpError, match=r"program calls bpf_skb_store_bytes#9, which the runtime does not implement"):
        vm("call 9\nexit")
    with pytest.raises(XdpError, match=r"unknown helper #9999"):
        vm("call 9999\nexit")


@pytest.mark.parametrize("helper", ["sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp", "sk_release",
                                    "tcp_check_syncookie", "tcp_gen_syncookie", "user_ringbuf_drain"])
def test_unimplemented_helpers_say_what_they_need(helper):
    """The socket and user ring buffer helpers: the refusal names the model that is missing."""
    from xdptool.platform.helpers import HELPER_ID

    need = "records user space writes" if helper == "user_ringbuf_drain" else "the host's sockets"
    with pytest.raises(XdpError, match=rf"bpf_{helper}#{HELPER_ID[helper]}, which the runtime does not "
                                       rf"implement: it needs {need}"):
        vm(f"call {HELPER_ID[helper]}\nexit")


def csum_program(source: bytes, target: bytes, seed: int):
    buf = (source + target).ljust(-(-len(source + target) // 8) * 8, b"\0")
    lines = []
    for i in range(0, len(buf), 8):
        lines += [f"r1 = {int.from_bytes(buf[i:i + 8], 'little')} ll", f"*(u64 *)(r10 - {256 - i}) = r1"]
    lines += ["r1 = r10", "r1 += -256", f"r2 = {len(source)}", "r3 = r10", f"r3 += {len(source) - 256}",
              f"r4 = {len(target)}", f"r5 = {seed} ll", "call 28", "exit"]
    return xdp("\n".join(lines))


@pytest.mark.kernel
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=st.binary(max_size=40), target=st.binary(max_size=40), seed=st.integers(0, 0xFFFFFFFF))
def test_csum_diff_matches_kernel(source, target, seed):
    if len(source) > 8 and source[0] == 0:  # zero sums are the edge: make them likely
        source = bytes(len(source))
    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(f"kernel: {reason}")
    program = csum_program(source, target, seed)
    kernel = make_engine("kernel", program, MapStore({}))
    try:
        want = kernel.run(bytes(64)).retval
    finally:
        kernel.close()
    assert make_engine("vm", program, MapStore({})).run(bytes(64)).retval == want


@pytest.mark.parametrize("engine_name", ["vm", "jit"])
def test_a_tail_call_into_a_malformed_program_faults_instead_of_crashing(engine_name):
    """Tail-call targets are checked like the entry program (r12 does not exist): the
    call faults with the reason; a run that never makes it is unaffected."""
    from xdptool.ebpf.insn import Instruction
    from xdptool.ebpf.opcodes import AluOp, Cls, JmpOp, Src
    from xdptool.elf.model import Program, ProgType, Subprogram
    from xdptool.runtime.engines import make_engine

    jumps = MapDef("jumps", MapType.PROG_ARRAY, 4, 4, 2, extra={"values": {0: "broken"}})
    first = xdp("r6 = r1\nr0 = *(u32 *)(r6 + 16)\nif r0 != 0 goto +6\nr1 = r6\nr2 = map:jumps\nr3 = 0\ncall 12\nr0 = 1\nexit",
                [jumps], name="first")
    insns = [Instruction(Cls.ALU64 | AluOp.MOV | Src.K, dst=12, imm=3), Instruction(Cls.JMP | JmpOp.EXIT, pc=1)]
    broken = Program("broken", "xdp", ProgType.XDP, "xdp", insns, [Subprogram("broken", 0, 2, "xdp")], "GPL")
    first.object.programs.append(broken)
    broken.object = first.object
    engine = make_engine(engine_name, first, MapStore.for_object(first.object))
    faulted = engine.run(PACKET)
    assert faulted.verdict == "XDP_ABORTED" and "r12" in faulted.fault.message
    from xdptool.runtime.contract import XdpContext

    assert engine.run(PACKET, XdpContext(rx_queue_index=1)).retval == 1
