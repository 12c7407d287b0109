"""Map semantics: each kind by hand, and random operation sequences against the kernel's maps.

The kernel side goes through bpf(2) (xdptool.kernel.maps): every step's errno and the
final contents must agree.  LRU eviction is approximate in the kernel, so LRU is
checked by hand against exact least-recently-used order.
"""

from __future__ import annotations

import errno
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from test_runtime_support import u32, u64
from xdptool.elf.model import MapDef, MapType
from xdptool.errors import XdpError
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapStore, create_map
from xdptool.runtime.maps_hash import fnv1a64

CFG = RuntimeConfig()


def make(type_, key_size=4, value_size=8, max_entries=4, flags=0, config=CFG, **kw):
    return create_map(MapDef("m", type_, key_size, value_size, max_entries, flags, **kw), config)


# -- arrays ------------------------------------------------------------------------------

def test_array_is_zeroed_and_refuses_delete_and_noexist():
    m = make(MapType.ARRAY)
    assert m.lookup(u32(3)) == bytes(8)
    assert m.lookup(u32(4)) is None
    assert m.update(u32(1), u64(7)) == 0 and m.lookup(u32(1)) == u64(7)
    assert m.update(u32(1), u64(8), BPF_NOEXIST) == -errno.EEXIST
    assert m.update(u32(4), u64(8)) == -errno.E2BIG
    assert m.update(u32(1), u64(8), 3) == -errno.EINVAL
    assert m.delete(u32(1)) == -errno.EINVAL
    assert [e["key"] for e in m.dump()] == [u32(i).hex() for i in range(4)]


def test_array_layout_is_contiguous_and_8_byte_strided():
    m = make(MapType.ARRAY, value_size=5, max_entries=3)
    m.update(u32(2), b"abcde")
    assert m.layout["stride"] == 8
    assert bytes(m.buffer[16:21]) == b"abcde"


def test_percpu_array_program_updates_one_cpu_and_dumps_all():
    m = make(MapType.PERCPU_ARRAY, config=RuntimeConfig(ncpus=3, cpu=1))
    assert m.update(u32(0), u64(5), cpu=1) == 0
    assert m.lookup(u32(0)) == [bytes(8), u64(5), bytes(8)]
    m.update(u32(0), [u64(1), u64(2), u64(3)])
    assert m.dump()[0] == {"key": "00000000", "value": [u64(1).hex(), u64(2).hex(), u64(3).hex()]}
    offset = m.lookup_offset(u32(0), 2)
    assert bytes(m.buffer[offset:offset + 8]) == u64(3)


def test_global_data_starts_with_initial_contents():
    m = make(MapType.ARRAY, value_size=6, max_entries=1, initial=b"hello\0", readonly=True)
    assert m.lookup(u32(0)) == b"hello\0" and m.readonly_for_program
    m.clear()
    assert m.lookup(u32(0)) == b"hello\0"


# -- hashes ------------------------------------------------------------------------------

def test_hash_flags_full_and_delete():
    m = make(MapType.HASH, max_entries=2)
    assert m.update(u32(1), u64(1), BPF_EXIST) == -errno.ENOENT
    assert m.update(u32(1), u64(1), BPF_NOEXIST) == 0
    assert m.update(u32(1), u64(2), BPF_NOEXIST) == -errno.EEXIST
    assert m.update(u32(1), u64(3), BPF_EXIST) == 0
    assert m.update(u32(2), u64(4)) == 0
    assert m.update(u32(3), u64(5)) == -errno.E2BIG  # full
    assert m.update(u32(2), u64(6)) == 0  # replacing in a full map works
    assert m.delete(u32(9)) == -errno.ENOENT
    assert m.delete(u32(1)) == 0 and m.lookup(u32(1)) is None
    assert m.update(u32(3), u64(5)) == 0


def test_hash_table_layout_matches_the_documented_probe():
    """A key lives at its FNV-1a home slot (or the next free one) with state, key and value."""
    m = make(MapType.HASH, key_size=4, value_size=8, max_entries=8)
    lay = m.layout
    assert lay["capacity"] == 16
    for k in range(8):
        m.update(u32(k), u64(k * 11))
    for k in range(8):
        slot = fnv1a64(u32(k)) & (lay["capacity"] - 1)
        while True:
            base = lay["header"] + slot * lay["slot_size"]
            if bytes(m.buffer[base + lay["key_offset"]:base + lay["key_offset"] + 4]) == u32(k):
                break
            slot = (slot + 1) % lay["capacity"]
        assert m.buffer[base] == lay["states"]["used"]
        value = bytes(m.buffer[base + lay["value_offset"]:base + lay["value_offset"] + 8])
        assert value == u64(k * 11)
    assert int.from_bytes(m.buffer[0:8], "little") == 8
    m.delete(u32(3))
    assert int.from_bytes(m.buffer[0:8], "little") == 7


def test_fnv1a64_reference_values():
    # published FNV-1a 64 test vectors (the empty string and "a")
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C


def test_value_pointers_survive_other_inserts_and_deletes():
    m = make(MapType.HASH, max_entries=16)
    m.update(u32(1), u64(111))
    offset = m.lookup_offset(u32(1))
    for k in range(2, 17):
        m.update(u32(k), u64(k))
    for k in range(2, 10):
        m.delete(u32(k))
    assert bytes(m.buffer[offset:offset + 8]) == u64(111)


def test_percpu_hash_new_element_zeroes_other_cpus():
    m = make(MapType.PERCPU_HASH, config=RuntimeConfig(ncpus=2, cpu=1))
    assert m.update(u32(1), u64(9), cpu=1) == 0
    assert m.lookup(u32(1)) == [bytes(8), u64(9)]


def test_lru_evicts_least_recently_used():
    m = make(MapType.LRU_HASH, max_entries=3)
    for k in (1, 2, 3):
        m.update(u32(k), u64(k))
    m.lookup_offset(u32(1))  # a program's lookup makes 1 recent
    m.update(u32(4), u64(4))  # evicts 2
    assert sorted(int.from_bytes(k, "little") for k in m.keys()) == [1, 3, 4]
    m.update(u32(3), u64(33))  # updating makes 3 recent
    m.update(u32(5), u64(5))  # evicts 1
    assert m.lru_order() == [u32(4), u32(3), u32(5)]
    assert m.lookup(u32(1)) is None


def test_lru_dump_does_not_change_recency():
    m = make(MapType.LRU_HASH, max_entries=2)
    m.update(u32(1), u64(1))
    m.update(u32(2), u64(2))
    m.dump()
    m.lookup(u32(1))  # user-space lookups do not count as use
    m.update(u32(3), u64(3))
    assert m.lookup(u32(1)) is None


# -- lpm trie, queue, stack, sparse arrays ---------------------------------------------------

def lpm_key(plen: int, addr: str) -> bytes:
    return plen.to_bytes(4, "little") + bytes(int(x) for x in addr.split("."))


def test_lpm_longest_prefix_wins_and_limits():
    m = make(MapType.LPM_TRIE, key_size=8, value_size=4, max_entries=3, flags=1)
    assert m.update(lpm_key(8, "10.0.0.0"), u32(8)) == 0
    assert m.update(lpm_key(24, "10.1.2.0"), u32(24)) == 0
    assert m.update(lpm_key(16, "10.1.0.0"), u32(16)) == 0
    assert m.update(lpm_key(32, "10.1.2.3"), u32(32)) == -errno.ENOSPC
    assert m.update(lpm_key(33, "10.1.2.3"), u32(32)) == -errno.EINVAL

    def best(addr, plen=32):
        offset = m.lookup_offset(lpm_key(plen, addr))
        return None if offset is None else int.from_bytes(m.buffer[offset:offset + 4], "little")

    assert best("10.1.2.200") == 24
    assert best("10.1.9.9") == 16
    assert best("10.200.0.1") == 8
    assert best("11.0.0.1") is None
    assert best("10.1.2.200", plen=20) == 16  # the lookup key's prefixlen caps the match
    assert m.delete(lpm_key(24, "10.1.2.0")) == 0
    assert best("10.1.2.200") == 16
    assert m.delete(lpm_key(24, "10.1.2.0")) == -errno.ENOENT


@pytest.mark.parametrize("kind,order", [(MapType.QUEUE, [1, 2, 3]), (MapType.STACK, [3, 2, 1])])
def test_queue_and_stack(kind, order):
    m = make(kind, key_size=0, value_size=4, max_entries=3)
    for v in (1, 2, 3):
        assert m.push(u32(v)) == 0
    assert m.push(u32(4)) == -errno.E2BIG
    assert m.push(u32(4), 3) == -errno.EINVAL
    assert m.peek() == u32(order[0])
    assert [int.from_bytes(m.pop(), "little") for _ in range(3)] == order
    assert m.pop() is None


def test_push_with_exist_overwrites_the_oldest():
    for kind in (MapType.QUEUE, MapType.STACK):
        m = make(kind, key_size=0, value_size=4, max_entries=2)
        m.push(u32(1)), m.push(u32(2))
        assert m.push(u32(3), BPF_EXIST) == 0
        assert sorted(int.from_bytes(v, "little") for v in m.items) == [2, 3]


def test_devmap_slots_start_empty_and_ifindex_zero_clears():
    m = make(MapType.DEVMAP, value_size=4, max_entries=4)
    assert m.lookup(u32(1)) is None and m.dump() == []
    assert m.update(u32(1), u32(7)) == 0 and m.slot_value(1) == 7
    assert m.update(u32(1), u32(8), BPF_NOEXIST) == -errno.EEXIST
    assert m.update(u32(9), u32(8)) == -errno.E2BIG
    assert m.update(u32(1), u32(0)) == 0 and m.slot_value(1) is None
    assert m.delete(u32(9)) == -errno.EINVAL
    assert m.readonly_for_program


# -- the store -----------------------------------------------------------------------------

def test_store_dump_load_round_trip_is_json_and_sorted():
    defs = {
        "h": MapDef("h", MapType.HASH, 4, 4, 8),
        "pc": MapDef("pc", MapType.PERCPU_ARRAY, 4, 4, 2),
        "q": MapDef("q", MapType.QUEUE, 0, 4, 4),
    }
    cfg = RuntimeConfig(ncpus=2)
    a = MapStore(defs, cfg)
    for k in (5, 1, 3):
        a["h"].update(u32(k), u32(k * 2))
    a["pc"].update(u32(1), [u32(1), u32(2)])
    a["q"].push(u32(9))
    dump = a.dump()
    assert [e["key"] for e in dump["h"]] == [u32(1).hex(), u32(3).hex(), u32(5).hex()]
    b = MapStore(defs, cfg)
    b.load(json.loads(json.dumps(dump)))
    assert b.dump() == dump


def test_store_errors_are_one_line_xdp_errors():
    store = MapStore({"h": MapDef("h", MapType.HASH, 4, 4, 8)})
    with pytest.raises(XdpError, match="no map named 'x'"):
        store["x"]
    with pytest.raises(XdpError, match="key of 2 bytes"):
        store.load({"h": [{"key": "0000", "value": "00000000"}]})
    with pytest.raises(XdpError, match="malformed"):
        store.load({"h": [{"value": "00000000"}]})
    with pytest.raises(XdpError, match="not supported by the runtime"):
        MapStore({"s": MapDef("s", MapType.SOCKMAP, 4, 4, 8)})
    with pytest.raises(XdpError, match="user_ringbuf is not supported by the runtime: it needs records written by"):
        MapStore({"u": MapDef("u", MapType.USER_RINGBUF, 0, 0, 4096)})


# -- differential against the kernel ---------------------------------------------------------

def kernel_map(mapdef):
    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(f"kernel: {reason}")
    from xdptool.kernel.maps import KernelMaps

    return KernelMaps([mapdef])


def kernel_errno(call) -> int:
    from xdptool.kernel.syscall import BpfError

    try:
        result = call()
    except BpfError as err:
        return -err.errno
    return 0 if result in (None, True) else -errno.ENOENT


OPS = st.lists(st.tuples(st.sampled_from(["update", "delete"]), st.integers(0, 6), st.integers(0, 2 ** 32 - 1),
                         st.sampled_from([BPF_ANY, BPF_NOEXIST, BPF_EXIST, 3])), max_size=30)
KINDS = {
    "hash": MapDef("m", MapType.HASH, 4, 4, 4),
    "array": MapDef("m", MapType.ARRAY, 4, 4, 5),
    "lpm": MapDef("m", MapType.LPM_TRIE, 8, 4, 4, flags=1),
}


@pytest.mark.kernel
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(sorted(KINDS)), ops=OPS)
def test_operation_sequences_match_the_kernel(kind, ops):
    mapdef = KINDS[kind]
    ours = create_map(mapdef, CFG)
    with kernel_map(mapdef) as kmaps:
        theirs = kmaps["m"]
        for op, k, v, flags in ops:
            key = lpm_key(8 * (k % 5), f"10.{k}.0.0") if kind == "lpm" else u32(k)
            if op == "update":
                got = ours.update(key, u32(v), flags)
                want = kernel_errno(lambda: theirs.update(key, u32(v), flags))
            else:
                got = ours.delete(key)
                want = kernel_errno(lambda: theirs.delete(key))
                if kind == "array":
                    want = -errno.EINVAL  # KernelMap.delete folds EINVAL into False
            assert got == want, (op, key.hex(), flags)
        assert sorted((k, theirs.lookup(k)) for k in theirs.keys()) == sorted((k, ours.lookup(k)) for k in ours.keys())
