"""Map state after batches on the JIT equals the interpreter's, on a C program
(compiled with clang) that uses hash, LRU hash, array, per-CPU array and global
data maps natively and through Python (inserts, deletes, redirect_map) — plus
value-pointer faults and the bulk API (run_packed)."""

from __future__ import annotations

import random
import shutil
import textwrap
from array import array

import pytest

from engine_diff import run_packed_over
from test_jit_diff import observable
from xdptool.elf.loader import load_object
from xdptool.errors import XdpError
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16);
         __type(key, __u32); __type(value, __u64); } flows SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __uint(max_entries, 4);
         __type(key, __u16); __type(value, __u32); } recent SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 8);
         __type(key, __u32); __type(value, __u64); } by_len SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u32); } per_cpu SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_DEVMAP); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u32); } ports SEC(".maps");

__u64 packets = 0;
const volatile __u32 limit = 12;

SEC("xdp")
int maps_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	unsigned char *p = data;
	if (data + 8 > data_end)
		return XDP_ABORTED;
	__u32 key = p[0] % 24;          /* more keys than flows holds: -E2BIG sometimes */
	__u64 one = 1;
	__u64 *count = bpf_map_lookup_elem(&flows, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&flows, &key, &one, BPF_NOEXIST);
	if (p[1] == 0xdd)
		bpf_map_delete_elem(&flows, &key);
	if (p[1] == 0xee)
		bpf_map_update_elem(&flows, &key, &one, BPF_EXIST);

	__u16 lkey = p[2] % 7;
	__u32 seen = p[3];
	__u32 *old = bpf_map_lookup_elem(&recent, &lkey);
	if (!old)
		bpf_map_update_elem(&recent, &lkey, &seen, BPF_ANY);
	else
		*old += seen;

	__u32 len_key = (__u32)(data_end - data) % 10;   /* 8 and 9 are out of range */
	__u64 *bytes = bpf_map_lookup_elem(&by_len, &len_key);
	if (bytes)
		*bytes += (__u32)(data_end - data);
	else
		bpf_map_update_elem(&by_len, &len_key, &one, BPF_ANY);

	__u32 cpu_key = p[4] & 3;
	__u32 *pc = bpf_map_lookup_elem(&per_cpu, &cpu_key);
	if (pc)
		*pc += 1;

	packets++;
	if (p[5] == 0xaa && packets > limit)
		return bpf_redirect_map(&ports, p[6] & 3, XDP_DROP);
	if (count && p[7] == 0x77)
		return *(__u32 *)((char *)count + 4) & 3;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""


def compiled(directory, name: str, source: str):
    """The object clang builds from C `source` (the test is skipped without clang)."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (make setup installs it)")
    from xdptool import toolchain

    path = directory / f"{name}.c"
    path.write_text(textwrap.dedent(source))
    return load_object(toolchain.build(path, directory / f"{name}.o").output)


@pytest.fixture(scope="module")
def maps_object(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("jitmaps"), "maps_prog", SOURCE)


def random_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    special = [0x00, 0xdd, 0xee, 0xaa, 0x77]
    packets = []
    for _ in range(count):
        head = bytes([rng.randrange(256), rng.choice(special + [rng.randrange(256)]), rng.randrange(256),
                      rng.randrange(256), rng.randrange(256), rng.choice([0xaa, 0]), rng.randrange(256),
                      rng.choice([0x77, 0])])
        packets.append(head + bytes(rng.randrange(0, 90)))
    return packets


def engines(obj, config=None):
    config = config or RuntimeConfig()
    out = []
    for engine_class in (VmEngine, JitEngine):
        store = MapStore.for_object(obj, config)
        store["ports"].update((1).to_bytes(4, "little"), (7).to_bytes(4, "little"))
        out.append((engine_class(obj.program("maps_prog"), store, config), store))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ncpus,cpu", [(1, 0), (3, 2)])
def test_map_state_after_batches_matches_vm(maps_object, seed, ncpus, cpu):
    (vm, vm_maps), (jit, jit_maps) = engines(maps_object, RuntimeConfig(ncpus=ncpus, cpu=cpu))
    packets = random_packets(seed, 300)
    for chunk in (packets[:7], packets[7:150], packets[150:]):
        want = [observable(r) for r in vm.run_batch(chunk)]
        got = [observable(r) for r in jit.run_batch(chunk)]
        assert got == want
        assert jit_maps.dump() == vm_maps.dump()
    assert any(r for r in jit_maps.dump()["flows"])


def test_single_runs_and_batches_interleave(maps_object):
    (vm, vm_maps), (jit, jit_maps) = engines(maps_object)
    packets = random_packets(9, 120)
    for index, packet in enumerate(packets):
        want = observable(vm.run(packet))
        got = observable(jit.run(packet) if index % 2 else jit.run_batch([packet])[0])
        assert got == want, f"packet {index}"
    assert jit_maps.dump() == vm_maps.dump()


def test_run_packed_matches_run_batch_and_vm(maps_object):
    (vm, vm_maps), (jit, jit_maps) = engines(maps_object)
    packets = random_packets(4, 500) + [bytes(3)]  # a short packet aborts
    buffer = b"".join(packets)
    offsets, lengths, position = array("Q"), array("I"), 0
    for packet in packets:
        offsets.append(position)
        lengths.append(len(packet))
        position += len(packet)
    results = jit.run_packed(buffer, offsets, lengths)
    want = [observable(r) for r in vm.run_batch(packets)]
    assert [observable(results.result(i)) for i in range(len(packets))] == want
    assert [results.verdict(i) for i in range(len(packets))] == [w[0] for w in want]
    assert jit_maps.dump() == vm_maps.dump()
    assert results.verdict_counts()["XDP_ABORTED"] >= 1
    assert not any(results.changed(i) for i in range(len(packets)))  # this program never writes


def test_run_packed_outputs_changed_and_big_packets():
    from xdptool.ebpf.asm import assemble
    from xdptool.elf.model import Program, ProgType

    # grows the tail by 40 bytes and writes the first byte: every packet changes
    insns = assemble("""
        r6 = r1
        r2 = 40
        call 65
        r1 = r6
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 1
        if r4 > r3 goto +2
        r5 = 0x5a
        *(u8 *)(r2 + 0) = r5
        r0 = 3
        exit""")
    prog = Program("grow", "xdp", ProgType.XDP, "xdp", insns, [], "GPL")
    rng = random.Random(5)
    packets = [bytes(rng.randrange(256) for _ in range(rng.choice([14, 60, 1500, 3600, 9000])))
               for _ in range(300)]
    vm = VmEngine(prog, MapStore({}))
    jit = JitEngine(prog, MapStore({}))
    results = run_packed_over(jit, packets, writable=True)
    for index, packet in enumerate(packets):
        want = vm.run(packet)
        assert results.packet(index) == want.packet, f"packet {index}"
        assert results.retvals[index] == want.retval
        assert results.changed(index) == (want.packet != packet)


def test_run_packed_rejects_packets_outside_the_buffer():
    from xdptool.ebpf.asm import assemble
    from xdptool.elf.model import Program, ProgType

    prog = Program("p", "xdp", ProgType.XDP, "xdp", assemble("r0 = 2\nexit"), [], "GPL")
    jit = JitEngine(prog, MapStore({}))
    with pytest.raises(XdpError, match="packet 1 extends past the end"):
        jit.run_packed(bytes(100), [0, 90], [50, 20])
    with pytest.raises(XdpError, match="offsets"):
        jit.run_packed(bytes(100), [0, 10], [5])


def test_value_pointer_faults_match_vm(tmp_path):
    obj = compiled(tmp_path, "oob", r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
                 __type(key, __u32); __type(value, __u32); } small SEC(".maps");
        const volatile __u32 ro = 5;
        SEC("xdp")
        int oob(struct xdp_md *ctx)
        {
            void *data = (void *)(long)ctx->data;
            if (data + 2 > (void *)(long)ctx->data_end)
                return XDP_PASS;
            unsigned char k = *(unsigned char *)data;
            unsigned char off = *(unsigned char *)(data + 1);
            __u32 key = k & 1;
            char *v = bpf_map_lookup_elem(&small, &key);
            if (!v)
                return XDP_DROP;
            if (k & 2)
                *(volatile __u32 *)&ro = 1;           /* .rodata is read-only for the program */
            return *(volatile unsigned char *)(v + off); /* off >= 4 is past the value */
        }
        char _license[] SEC("license") = "GPL";
    """)
    packets = [bytes([k, off]) + bytes(20) for k in range(4) for off in (0, 3, 4, 8, 200)]
    results = []
    for engine_class in (VmEngine, JitEngine):
        store = MapStore.for_object(obj)
        engine = engine_class(obj.program("oob"), store)
        results.append([observable(r) for r in engine.run_batch(packets)])
    assert results[1] == results[0]
    assert any(r[4] is not None for r in results[0])


def test_tail_calls_run_natively_with_vm_results(tmp_path):
    obj = compiled(tmp_path, "tail", r"""
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4);
                 __type(key, __u32); __type(value, __u32); } jumps SEC(".maps");
        SEC("xdp")
        int second(struct xdp_md *ctx) { return XDP_TX; }
        SEC("xdp")
        int first(struct xdp_md *ctx)
        {
            void *data = (void *)(long)ctx->data;
            if (data + 1 > (void *)(long)ctx->data_end)
                return XDP_ABORTED;
            bpf_tail_call(ctx, &jumps, *(unsigned char *)data & 3);
            return XDP_DROP;
        }
        char _license[] SEC("license") = "GPL";
    """)
    packets = [bytes([k]) + bytes(20) for k in range(4)]
    outcomes = []
    for engine_class in (VmEngine, JitEngine):
        store = MapStore.for_object(obj)
        store["jumps"].set_program(1, [p.name for p in obj.programs].index("second"))
        engine = engine_class(obj.program("first"), store)
        outcomes.append([observable(r) for r in engine.run_batch(packets)])
        if engine_class is JitEngine:
            assert not engine.interpreted
            assert engine.helper_fallbacks() == {"bpf_tail_call": 0}
            packed = engine.run_packed(b"".join(packets), [21 * i for i in range(4)], [21] * 4)
            outcomes.append([observable(packed.result(i)) for i in range(4)])
    assert outcomes[1] == outcomes[0] == outcomes[2]
    assert [o[0] for o in outcomes[0]] == ["XDP_DROP", "XDP_TX", "XDP_DROP", "XDP_DROP"]


def test_many_value_regions_are_numbered_like_the_vm():
    """Thousands of distinct hash values looked up natively in one batch: the region
    table grows, and the pointers (returned to the caller) equal the interpreter's."""
    from xdptool.ebpf.asm import assemble
    from xdptool.elf.model import MapDef, MapType, Program, ProgType, Reloc, RelocKind

    insns = assemble("""
        r6 = r1
        r2 = *(u32 *)(r6 + 0)
        r3 = *(u32 *)(r6 + 4)
        r4 = r2
        r4 += 2
        if r4 > r3 goto +11
        r5 = *(u16 *)(r2 + 0)
        *(u32 *)(r10 - 4) = r5
        r1 = 0 ll
        r2 = r10
        r2 += -4
        call 1
        if r0 == 0 goto +3
        r1 = *(u32 *)(r0 + 0)
        r0 >>= 32
        r0 ^= r1
        exit""")
    lookup_map = next(i for i in insns if i.is_ld_imm64)
    lookup_map.reloc = Reloc(RelocKind.MAP, "m", map="m")
    prog = Program("many", "xdp", ProgType.XDP, "xdp", insns, [], "GPL")
    mdef = MapDef("m", MapType.HASH, 4, 4, 5000)
    packets = [(k * 7919 % 6000).to_bytes(2, "little") + bytes(14) for k in range(4500)]
    outcomes, dumps = [], []
    for engine_class in (VmEngine, JitEngine):
        store = MapStore({"m": mdef})
        for key in range(0, 6000, 2)[:2900]:
            store["m"].update(key.to_bytes(4, "little"), (key * 3).to_bytes(4, "little"))
        engine = engine_class(prog, store)
        outcomes.append([(r.retval, r.verdict) for r in engine.run_batch(packets)])
        dumps.append(store.dump())
    assert outcomes[1] == outcomes[0]
    assert dumps[1] == dumps[0]
    assert len({retval for retval, _ in outcomes[0]}) > 2000
