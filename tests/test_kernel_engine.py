"""KernelEngine and kernel maps: state transfer with the runtime's MapStore, runs, fds, errors."""

from __future__ import annotations

import os

import pytest

from xdptool.ebpf.insn import Instruction, alu, exit_insn, ld_imm64
from xdptool.ebpf.opcodes import AluOp, Cls, JmpOp, Mode, Size
from xdptool.elf.model import MapDef, MapType
from xdptool.errors import XdpError
from xdptool.kernel import probe
from xdptool.kernel.engine import KernelEngine
from xdptool.kernel.load import KernelRejected
from xdptool.kernel.maps import KernelMaps, possible_cpus
from xdptool.kernel.state import dump_maps, load_maps
from xdptool.kernel.synthetic import map_ref, synthetic_program
from xdptool.kernel.verify import verify_with_kernel
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.contract import XdpContext
from xdptool.runtime.maps import MapStore

_REASON = probe.kernel_unavailable_reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(_REASON is not None, reason=f"kernel: {_REASON}")]

PACKET = bytes(range(1, 61))

MAPS = [
    MapDef("arr", MapType.ARRAY, 4, 8, 4),
    MapDef("parr", MapType.PERCPU_ARRAY, 4, 12, 2),
    MapDef("hash", MapType.HASH, 2, 8, 16),
    MapDef("phash", MapType.PERCPU_HASH, 4, 4, 16),
    MapDef("lru", MapType.LRU_HASH, 4, 4, 16),
    MapDef("lpm", MapType.LPM_TRIE, 8, 4, 16, flags=1),
    MapDef("devs", MapType.DEVMAP, 4, 4, 8),
    MapDef(".data", MapType.ARRAY, 4, 6, 1, section=".data", initial=b"abcdef"),
    MapDef(".rodata", MapType.ARRAY, 4, 4, 1, section=".rodata", initial=b"ro!!", readonly=True),
]


def filled_store(ncpus: int = 1) -> MapStore:
    """A MapStore with entries in every map, written through the runtime's own API."""
    store = MapStore({m.name: m for m in MAPS}, RuntimeConfig(ncpus=ncpus))
    store["arr"].update((2).to_bytes(4, "little"), b"\x11" * 8)
    store["parr"].update((1).to_bytes(4, "little"), [bytes([c + 1]) * 12 for c in range(ncpus)])
    for port in (53, 80, 443):
        store["hash"].update(port.to_bytes(2, "big"), port.to_bytes(8, "little"))
    store["phash"].update(b"key!", [bytes([9, c, 0, 0]) for c in range(ncpus)])
    store["lru"].update(b"lru1", b"\x01\x02\x03\x04")
    store["lpm"].update((24).to_bytes(4, "little") + bytes([10, 1, 2, 0]), b"net1")
    store["lpm"].update((8).to_bytes(4, "little") + bytes([10, 0, 0, 0]), b"net0")
    store["devs"].update((3).to_bytes(4, "little"), (1).to_bytes(4, "little"))
    store[".data"].update(bytes(4), b"ABCDEF")
    return store


@pytest.mark.parametrize("ncpus", sorted({1, possible_cpus()}))
def test_map_state_round_trips_through_the_kernel(ncpus):
    store = filled_store(ncpus)
    with KernelMaps(MAPS) as kmaps:
        load_maps(kmaps, store.dump(), ncpus)
        assert dump_maps(kmaps, ncpus) == store.dump()


def test_rodata_is_frozen_with_its_initial_contents():
    with KernelMaps(MAPS) as kmaps:
        assert kmaps[".rodata"].lookup(bytes(4)) == b"ro!!"
        with pytest.raises(XdpError, match="read-only"):
            kmaps[".rodata"].update(bytes(4), b"new!")


def counter_program():
    """arr[0] += 1 (u64); then XDP_TX with the first packet byte set to 0xee."""
    return synthetic_program(
        [
            alu(AluOp.MOV, 6, src=1),
            Instruction(code=Cls.ST | Mode.MEM | Size.W, dst=10, off=-4, imm=0),
            alu(AluOp.MOV, 2, src=10),
            alu(AluOp.ADD, 2, imm=-4),
            map_ref(ld_imm64(1, 0), "arr"),
            Instruction(code=Cls.JMP | JmpOp.CALL, imm=1),  # map_lookup_elem
            Instruction(code=Cls.JMP | JmpOp.JEQ, dst=0, off=3, imm=0),
            Instruction(code=Cls.LDX | Mode.MEM | Size.DW, dst=1, src=0),
            alu(AluOp.ADD, 1, imm=1),
            Instruction(code=Cls.STX | Mode.MEM | Size.DW, dst=0, src=1),
            Instruction(code=Cls.LDX | Mode.MEM | Size.W, dst=2, src=6, off=0),  # data
            Instruction(code=Cls.LDX | Mode.MEM | Size.W, dst=3, src=6, off=4),  # data_end
            alu(AluOp.MOV, 4, src=2),
            alu(AluOp.ADD, 4, imm=1),
            Instruction(code=Cls.JMP | JmpOp.JGT | 0x08, dst=4, src=3, off=1),
            Instruction(code=Cls.ST | Mode.MEM | Size.B, dst=2, imm=0xEE),
            alu(AluOp.MOV, 0, imm=3),
            exit_insn(),
        ],
        MAPS,
        name="counter",
    )


def test_engine_runs_and_writes_map_state_back_to_the_store():
    store = filled_store()
    before = store.dump()
    with KernelEngine(counter_program(), store) as engine:
        result = engine.run(PACKET)
        assert (result.verdict, result.packet) == ("XDP_TX", b"\xee" + PACKET[1:])
        results = engine.run_batch([PACKET, PACKET[:20]], XdpContext(ingress_ifindex=1, rx_queue_index=0))
        assert [r.retval for r in results] == [3, 3]
        assert results[1].packet == b"\xee" + PACKET[1:20]
    after = store.dump()
    assert after["arr"][0]["value"] == (3).to_bytes(8, "little").hex()
    assert {k: v for k, v in after.items() if k != "arr"} == {k: v for k, v in before.items() if k != "arr"}


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_engine_close_releases_every_fd():
    start = fd_count()
    engine = KernelEngine(counter_program(), filled_store())
    assert fd_count() > start
    engine.close()
    assert fd_count() == start


def test_no_leaks_over_1000_load_unload_cycles():
    program = counter_program()
    start = fd_count()
    pins_before = set(os.listdir("/sys/fs/bpf")) if os.path.isdir("/sys/fs/bpf") else set()
    for _ in range(1000):
        with KernelEngine(program, None) as engine:
            engine.run(PACKET)
    assert fd_count() == start
    if os.path.isdir("/sys/fs/bpf"):
        assert set(os.listdir("/sys/fs/bpf")) == pins_before


def test_map_type_the_kernel_rejects_is_a_clean_error():
    bad = MapDef("ops", MapType.STRUCT_OPS, 4, 4, 1)
    with pytest.raises(XdpError, match=r"map 'ops' \(struct_ops\): bpf\(MAP_CREATE\) failed: .*EINVAL") as info:
        KernelEngine(synthetic_program([alu(AluOp.MOV, 0, imm=2), exit_insn()], [bad]), None)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_verifier_rejection_carries_the_kernels_last_log_line():
    program = synthetic_program([alu(AluOp.MOV, 0, src=3), exit_insn()], name="uninit")
    with pytest.raises(KernelRejected) as info:
        KernelEngine(program, None)
    assert str(info.value) == "kernel rejected uninit: R3 !read_ok"
    assert "R3 !read_ok" in info.value.log and "processed" in info.value.log
    verdict = verify_with_kernel(program)
    assert not verdict.accepted and verdict.last_line == "R3 !read_ok" and verdict.load_time_ns > 0


def test_verify_with_kernel_accepts_and_counts_insns():
    verdict = verify_with_kernel(counter_program(), log_level=2)
    assert verdict.accepted
    assert verdict.insn_processed is not None and verdict.insn_processed >= 17
    assert verdict.last_line.startswith("processed")


def test_no_privilege_is_reported_with_the_reason(monkeypatch):
    monkeypatch.setattr(probe, "kernel_unavailable_reason", lambda: "running as uid 1000 without CAP_BPF")
    with pytest.raises(probe.KernelUnavailable) as info:
        KernelEngine(counter_program(), None)
    assert info.value.exit_code == 2
    assert str(info.value) == "--target kernel is unavailable: running as uid 1000 without CAP_BPF"


def test_probe_sees_a_usable_kernel_here():
    probe.kernel_unavailable_reason.cache_clear()
    assert probe.kernel_unavailable_reason() is None


def test_probe_reports_missing_capabilities(monkeypatch):
    monkeypatch.setattr(probe, "effective_capabilities", lambda: 0)
    assert "without CAP_BPF" in probe._privilege_reason()
    monkeypatch.setattr(probe, "lockdown_mode", lambda: "confidentiality")
    assert "lockdown" in probe._lockdown_reason()


def test_percpu_values_land_in_the_configured_cpu():
    program = synthetic_program(
        [
            Instruction(code=Cls.ST | Mode.MEM | Size.W, dst=10, off=-4, imm=1),
            alu(AluOp.MOV, 2, src=10),
            alu(AluOp.ADD, 2, imm=-4),
            map_ref(ld_imm64(1, 0), "parr"),
            Instruction(code=Cls.JMP | JmpOp.CALL, imm=1),
            Instruction(code=Cls.JMP | JmpOp.JEQ, dst=0, off=3, imm=0),
            Instruction(code=Cls.LDX | Mode.MEM | Size.DW, dst=1, src=0),
            alu(AluOp.ADD, 1, imm=5),
            Instruction(code=Cls.STX | Mode.MEM | Size.DW, dst=0, src=1),
            alu(AluOp.MOV, 0, imm=2),
            exit_insn(),
        ],
        MAPS,
    )
    ncpus = possible_cpus()
    cpu = ncpus - 1
    if cpu not in os.sched_getaffinity(0):
        pytest.skip(f"cpu {cpu} is not in this process's affinity mask")
    store = filled_store(ncpus)
    before = [bytes.fromhex(v) for v in store.dump()["parr"][1]["value"]]
    with KernelEngine(program, store, RuntimeConfig(ncpus=ncpus, cpu=cpu)) as engine:
        engine.run(PACKET)
    after = [bytes.fromhex(v) for v in store.dump()["parr"][1]["value"]]
    for c in range(ncpus):
        delta = 5 if c == cpu else 0
        assert int.from_bytes(after[c][:8], "little") == int.from_bytes(before[c][:8], "little") + delta
