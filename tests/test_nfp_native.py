"""nfp-emu's native code (nfp/native.py) against the interpreted executor, packet for packet.

Every offloadable example, with both allocators' images (the kernel JIT's and the
what-if), runs its own capture and a few hundred random packets on both: verdict,
output packet, fault, instructions executed, selected queue, the map state after
every batch and the per-verdict cycle counts the card model uses must be equal.  A
sample (nfp_samples/native_extras.c) brings what no example makes the JIT emit
(mul_step, the random number CSR, a deferred atomic add, perf events), and NFP
assembly the rest (NN registers, jump tables, the other CSRs, deferred reads and
writes, every run-time rule of the executor).  The executor is the reference;
nothing here is computed by the native path alone.
"""

from __future__ import annotations

import random
import shutil
import struct
from pathlib import Path

import pytest

from array import array

from test_nfp_executor import RUN_TIME_RULES, store_result

from xdptool.elf import load_object
from xdptool.nfp import card, firmware, native
from xdptool.nfp.assembler import assemble
from xdptool.nfp.engine import NfpEngine
from xdptool.nfp.executor import Executor, IsaViolation
from xdptool.nfp.image import Image, link
from xdptool.nfp.offload import offload
from xdptool.replay.pcap import read_capture
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.maps import MapStore
from xdptool.runtime.target import read_maps_file

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
SAMPLES = Path(__file__).resolve().parent / "nfp_samples"
ALLOCATORS = ("kernel", "xdptool")  # the kernel JIT's image, the what-if


@pytest.fixture(scope="module")
def offloadable(built_examples):
    out = {}
    for name, path in built_examples.items():
        program = load_object(str(path)).program()
        if offload(program, estimate=False, compare=False).offloaded:
            out[name] = program
    return out


def random_packets(seed: int, count: int = 200) -> list[bytes]:
    """Ethernet frames, mostly IPv4/IPv6 UDP/TCP with random fields, some random bytes."""
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        kind = rng.random()
        eth = bytes(rng.getrandbits(8) for _ in range(12))
        if kind < 0.6:
            proto = rng.choice([6, 17, 1, 47, 4])
            l4 = struct.pack("!HH", rng.choice([53, 80, 443, 22, rng.getrandbits(16)]),
                             rng.choice([53, 80, 443, rng.getrandbits(16)])) + bytes(rng.getrandbits(8)
                                                                                  for _ in range(rng.randrange(4, 60)))
            ip = struct.pack("!BBHHHBBH4s4s", rng.choice([0x45, 0x46, 0x44]), 0, 20 + len(l4), 0, 0, 64, proto, 0,
                             rng.randbytes(4), rng.randbytes(4))
            packets.append(eth + b"\x08\x00" + ip + l4)
        elif kind < 0.75:
            l4 = rng.randbytes(rng.randrange(8, 40))
            ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(l4), rng.choice([6, 17, 58]), 64, rng.randbytes(16),
                              rng.randbytes(16))
            packets.append(eth + b"\x86\xdd" + ip6 + l4)
        else:
            packets.append(eth + rng.randbytes(rng.randrange(2, 120)))
    return packets


def capture_packets(name: str) -> list[bytes]:
    path = PROGRAMS / f"{name}.pcap"
    if not path.exists():
        return []
    capture = read_capture(str(path))
    return [bytes(capture.data(i)) for i in range(len(capture)) if len(capture.data(i)) >= 14]


def engines(program, name, allocator="kernel"):
    pair = []
    for use_native in (True, False):
        store = MapStore.for_object(program.object)
        maps_file = PROGRAMS / f"{name}.maps.json"
        if maps_file.exists():
            store.load(read_maps_file(str(maps_file)))
        pair.append(NfpEngine(program, store, native=use_native, allocator=allocator))
    return pair


def outcome(result) -> tuple:
    return (result.retval, result.packet, result.insns_executed, result.rx_queue,
            None if result.fault is None else (result.fault.message, result.fault.pc), result.events)


def agree(fast, reference, packets, label) -> int:
    """Run `packets` through both engines in batches (map state carries across); the number of
    packets compared."""
    for start in range(0, len(packets), 64):
        batch = packets[start:start + 64]
        got, want = fast.run_batch(batch), reference.run_batch(batch)
        for index, (a, b) in enumerate(zip(got, want, strict=True)):
            assert outcome(a) == outcome(b), (label, start + index)
        assert fast.maps.dump() == reference.maps.dump(), (label, start)
    assert fast.traffic.classes == reference.traffic.classes, label
    assert fast.next_thread == reference.next_thread, label
    return len(packets)


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_every_offloadable_example_compiles_natively(offloadable, allocator):
    assert len(offloadable) >= 10
    for name, program in offloadable.items():
        image = offload(program, estimate=False, compare=False, allocator=allocator).image
        assert native.supported(image) is None, name
        fast, _ = engines(program, name, allocator)
        assert fast.native is not None, name


@pytest.mark.parametrize("allocator", ALLOCATORS)
@pytest.mark.parametrize("source", ["capture", "random"])
def test_native_and_interpreted_agree_packet_for_packet(offloadable, source, allocator):
    compared = 0
    for seed, (name, program) in enumerate(sorted(offloadable.items())):
        packets = capture_packets(name) if source == "capture" else random_packets(seed)
        compared += agree(*engines(program, name, allocator), packets, (name, source, allocator))
    assert compared >= (200 if source == "capture" else 2000)


@pytest.fixture(scope="module")
def extras(tmp_path_factory):
    """native_extras.c: with its perf event for the kernel image; without it for the what-if,
    whose lowering has no perf_event_output."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    from xdptool import toolchain

    out = tmp_path_factory.mktemp("extras")
    source = SAMPLES / "native_extras.c"
    return {allocator: load_object(toolchain.build(source, out / f"{allocator}.o", defines=defines).output).program()
            for allocator, defines in (("kernel", ()), ("xdptool", ("NO_PERF_EVENT",)))}


@pytest.mark.parametrize("allocator", ALLOCATORS)
def test_the_instructions_no_example_uses_agree(extras, allocator):
    program = extras[allocator]
    image = offload(program, estimate=False, compare=False, allocator=allocator).image
    kinds = {insn.kind for insn in image.insns}
    assert {"mul_step", "csr_rd"} <= kinds
    if allocator == "kernel":  # the JIT's wide atomic add and its perf routine call
        assert any(insn.kind == "mem" and insn.defer for insn in image.insns)
        assert any(insn.target == native.abi.ROUTINES["perf_event_output"].address for insn in image.insns)
    fast, reference = engines(program, "native_extras", allocator)
    assert fast.native is not None
    packets = random_packets(11, 300)
    agree(fast, reference, packets, allocator)
    events = sum(len(r.events) for r in fast.run_batch(packets))
    assert (events > 0) == (allocator == "kernel")


# -- NFP assembly on the what-if's ABI (firmware.py), as tests/test_nfp_executor.py writes it ----------------
EXIT = "immed[gprB_0, 0]\n br[fw.exit]\n"
READ_WORDS = ("alu[gprB_1, --, B, *l$index0[0]]\n mem[read32, $in_0, gprB_1, 0, 2], ctx_swap[sig1]\n"
              "alu[gprA_1, --, B, $in_0]\n alu[gprB_5, --, B, $in_1]\n")  # the packet's first two words
MUL = "".join(f"mul_step[gprA_1, gprB_5, {kind}_step{k}]\n" for kind, n in (("16x16", 2),) for k in range(1, n + 1))
ASSEMBLY = {
    "mul 32x32": READ_WORDS + "mul_step[gprA_1, gprB_5, start]\n"
    + "".join(f"mul_step[gprA_1, gprB_5, 32x32_step{k}]\n" for k in range(1, 5))
    + "mul_step[gprA_2, --, 32x32_last]\n mul_step[gprA_4, --, 32x32_last2]\n"
    + store_result("gprA_2", 8) + store_result("gprA_4", 12),
    "mul 16x16 and 24x8": READ_WORDS + "mul_step[gprA_1, gprB_5, start]\n" + MUL
    + "mul_step[gprA_2, --, 16x16_last]\n mul_step[gprA_1, gprB_5, start]\n mul_step[gprA_1, gprB_5, 24x8_step1]\n"
    "mul_step[gprA_4, --, 24x8_last]\n" + store_result("gprA_2", 8) + store_result("gprA_4", 12),
    "csr reads": "local_csr_rd[PSEUDO_RND_NUM]\n immed[gprA_2, 0]\n local_csr_rd[CTX_PTR]\n immed[gprA_4, 0]\n"
    "local_csr_rd[ACT_LM_ADDR0]\n immed[gprA_6, 0]\n local_csr_rd[PSEUDO_RND_NUM]\n immed[gprA_7, 0]\n"
    + store_result("gprA_2", 0) + store_result("gprA_4", 4) + store_result("gprA_6", 8) + store_result("gprA_7", 12),
    "NN registers kept across packets": READ_WORDS + "alu[gprA_2, --, B, n$5]\n alu[n$5, --, B, gprA_1]\n"
    + store_result("gprA_2", 4),
    "jump table": READ_WORDS + "alu[gprA_3, gprA_1, AND, 3]\n jump[gprA_3, table]\ntable:\n br[t0]\n br[t1]\n"
    " br[t2]\n br[t3]\nt0:\n immed[gprA_0, 1]\n" + EXIT + "t1:\n immed[gprA_0, 3]\n" + EXIT
    + "t2:\n immed[gprA_0, 2]\n" + EXIT + "t3:\n immed[gprA_0, 7]\n" + EXIT,
    "deferred read, write and add": READ_WORDS + "mem[read32_swap, $in_3, gprB_1, 4, 1], ctx_swap[sig2], defer[2]\n"
    "alu[gprA_2, gprA_1, +, 1]\n alu[gprA_4, gprA_1, XOR, gprB_5]\n alu[gprA_6, --, B, $in_3]\n"
    "mem[write8_swap, $out_0, gprB_1, 16, 4], ctx_swap[sig1], defer[1]\n alu[$out_0, --, B, gprA_4]\n"
    "mem[add, $out_1, gprB_1, 20, 1], ctx_swap[sig1], defer[1]\n alu[$out_1, --, B, gprA_2]\n"
    + store_result("gprA_6", 24),
}


def assembled(text: str) -> Image:
    insns, labels = assemble(text)
    link(insns, labels, firmware.SYMBOLS)
    return Image(insns, labels, 8, 0, 0, [])


def run_assembly(image: Image, packets: list[bytes], use_native: bool) -> list[tuple]:
    """(verdict, packet, instructions, fault) per packet, threads in turn as NfpEngine gives them."""
    store, config = MapStore({}), RuntimeConfig()
    if not use_native:
        executor = Executor(image, store, config)
        out = []
        for k, packet in enumerate(packets):
            result, _ = executor.run(packet, thread=k % image.contexts)
            out.append((result.retval, result.packet, result.insns_executed, result.fault and result.fault.message))
        return out
    compiled = native.compile_image(image, store)
    assert compiled is not None
    runner = native.NativeRunner(compiled, image, store, config)
    offsets = array("Q", [sum(map(len, packets[:k])) for k in range(len(packets))])
    packed, _, _ = runner.run(b"".join(packets), offsets, array("I", map(len, packets)), 0, card.Traffic("test"))
    return [(r.retval, r.packet, r.insns_executed, r.fault and r.fault.message)
            for r in map(packed.result, range(len(packets)))]


@pytest.mark.parametrize("name", sorted(ASSEMBLY))
def test_assembly_agrees(name):
    text = ASSEMBLY[name]
    image = assembled(text if "br[fw.exit]" in text else text + "immed[gprA_0, 2]\n" + EXIT)
    packets = random_packets(5, 40)
    assert run_assembly(image, packets, True) == run_assembly(image, packets, False)


@pytest.mark.parametrize("body, message", RUN_TIME_RULES)
def test_the_executors_run_time_rules_stop_native_code_too(body, message):
    image = assembled(body + "immed[gprA_0, 2]\n" + EXIT)
    with pytest.raises(IsaViolation, match=message):
        run_assembly(image, [bytes(64)], False)
    with pytest.raises(IsaViolation, match="NFP image breaks a rule at .* [(]native[)]"):
        run_assembly(image, [bytes(64)], True)


def test_what_the_executor_alone_runs_says_why():
    image = assembled("immed[gprA_1, 1]\n immed[gprB_1, 1]\n br[next], defer[1]\n mul_step[gprA_1, gprB_1, start]\n"
                      "next:\n immed[gprA_0, 2]\n" + EXIT)
    assert "defer slot" in native.supported(image) and native.compile_image(image, MapStore({})) is None


def test_the_interpreter_can_be_forced(offloadable, monkeypatch):
    monkeypatch.setenv("XDPTOOL_NFP_INTERPRET", "1")
    engine = NfpEngine(offloadable["drop_all"], MapStore.for_object(offloadable["drop_all"].object))
    assert engine.native is None


def test_a_frame_larger_than_the_default_grows_alike(offloadable):
    fast, reference = engines(offloadable["port_rewrite"], "port_rewrite")
    big = random_packets(7, 3)[0].ljust(9000, b"\x5a")
    assert outcome(fast.run_batch([big])[0]) == outcome(reference.run_batch([big])[0])
