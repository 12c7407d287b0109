"""bpf_ringbuf_output and bpf_perf_event_output appended natively by the jit (runtime/jit/
events.py): the same events, in the same order, with the same return values (bad flags,
a ring buffer's room per run: -EAGAIN, perf's -EFAULT for more context bytes than the packet
has and -E2BIG past the array's slots) as the vm, with no call through Python -- in single
runs, in the packet loop, and with a log that has to grow.  A program that also reserves ring
buffer records makes them natively too (their events in program order); one that runs a
callback on the interpreter (bpf_for_each_map_elem) keeps them all in Python.  Past the 64
records a run may hold, a reservation is NULL in both engines.  The kernel's test run
reports no events (its engine's `unobservable`), so the vm is the reference here; the vm's
event helpers are held to the kernel's source (runtime/helpers.py)."""

from __future__ import annotations

import random

import pytest

from engine_diff import outcomes
from test_jit_maps import compiled
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.jit import engine as jit_engine
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 20); } big SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 80);
         __type(key, __u32); __type(value, __u64); } held SEC(".maps");  /* many_records' pointers */
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, __u32); } perf SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } sum SEC(".maps");

/* packet byte 14: how many ring buffer records (of 200 + byte 15 bytes); 16: ringbuf flags;
   17: perf CPU slot (255: BPF_F_CURRENT_CPU); 18: context bytes; 19: extra perf flags */
SEC("xdp") int events(struct xdp_md *ctx)
{
	__u8 a[6], rec[255] = {};
	__u64 flags, total = 0;
	__u32 k = 0, i, n, size;
	__u64 *s;
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	n = a[0] & 31;
	size = 200 + (a[1] & 31);
	for (i = 0; i < 31 && i < n; i++) {
		rec[0] = i;
		rec[size - 1] = a[1];
		r = bpf_ringbuf_output(&rb, rec, size, a[2] & 7);
		total = total * 3 + (r & 0xff);
	}
	flags = (a[3] == 255 ? BPF_F_CURRENT_CPU : a[3] & 7) | (__u64)(a[4] & 63) << 32 | (__u64)(a[5] & 1) << 60;
	r = bpf_perf_event_output(ctx, &perf, flags, a, sizeof(a));
	total = total * 3 + (r & 0xff);
	s = bpf_map_lookup_elem(&sum, &k);
	if (s)
		*s += total;
	return XDP_PASS;
}

/* reservations between outputs: events in program order */
SEC("xdp") int mixed(struct xdp_md *ctx)
{
	__u64 v = 7, *p, *q;

	bpf_ringbuf_output(&rb, &v, sizeof(v), 0);
	p = bpf_ringbuf_reserve(&rb, 8, 0);
	q = bpf_ringbuf_reserve(&rb, 16, 0);
	if (p) {
		*p = 9;
		bpf_ringbuf_submit(p, 0);
	}
	if (q) {
		q[1] = 5;
		bpf_ringbuf_discard(q, 0);
	}
	bpf_ringbuf_output(&rb, &v, sizeof(v), 0);
	return XDP_PASS;
}

/* the same beside bpf_for_each_map_elem (its callback runs on the interpreter): all in Python */
static long visit(void *map, __u32 *key, __u64 *value, void *ctx)
{
	__u64 v = 3;

	bpf_ringbuf_output(&rb, &v, sizeof(v), 0);
	return 0;
}

SEC("xdp") int mixed_python(struct xdp_md *ctx)
{
	__u64 v = 7, *p;

	bpf_ringbuf_output(&rb, &v, sizeof(v), 0);
	p = bpf_ringbuf_reserve(&rb, 8, 0);
	if (p) {
		*p = 9;
		bpf_ringbuf_submit(p, 0);
	}
	bpf_for_each_map_elem(&sum, visit, 0, 0);
	return XDP_PASS;
}

/* not for the kernel's verifier: byte 14 records held at once (sizes from byte 15), every
   second one written and submitted, the rest discarded: past RECORD_SLOTS a reservation is
   NULL, and the arena grows */
SEC("xdp") int many_records(struct xdp_md *ctx)
{
	__u8 a[2];
	__u64 **slot, *p;
	__u32 i, n, size, nulls = 0;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	n = a[0] % 80;
	for (i = 0; i < n; i++) {
		size = 8 + ((a[1] * (i + 1)) & 1023) * 8;
		p = bpf_ringbuf_reserve(&big, size, 0);
		nulls += !p;
		slot = bpf_map_lookup_elem(&held, &i);
		if (slot)
			*slot = p;
	}
	for (i = 0; i < n; i++) {
		slot = bpf_map_lookup_elem(&held, &i);
		if (!slot || !*slot)
			continue;
		p = *slot;
		*p = i;
		if (i & 1)
			bpf_ringbuf_submit(p, 0);
		else
			bpf_ringbuf_discard(p, 0);
	}
	return nulls;
}

/* not for the kernel's verifier: a pointer into a record, not its start, submitted */
SEC("xdp") int submit_inside(struct xdp_md *ctx)
{
	__u8 *p = bpf_ringbuf_reserve(&rb, 16, 0);

	if (p)
		bpf_ringbuf_submit(p + 8, 0);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        args = bytes([rng.choice([0, 1, 3, 18, 19, 25]), rng.randrange(256), rng.choice([0, 0, 1, 2, 4]),
                      rng.choice([0, 1, 3, 5, 255]), rng.choice([0, 8, 40, 63]), rng.choice([0, 0, 1])])
        packets.append(bytes(range(14)) + args + bytes(rng.randrange(0, 60)))
    return packets


PACKETS = _packets(130, 120)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("events"), "events", SOURCE)


def test_jit_events_are_the_vm_events_with_no_python_call(obj):
    _, want, vm_maps = outcomes(VmEngine, obj, "events", PACKETS)
    for batch in (False, True):
        jit, got, jit_maps = outcomes(JitEngine, obj, "events", PACKETS, batch)
        assert got == want and jit_maps == vm_maps
        fallbacks = jit.helper_fallbacks()
        assert fallbacks["bpf_ringbuf_output"] == fallbacks["bpf_perf_event_output"] == 0, fallbacks
    kinds = {event["type"] for outcome in want for event in outcome[6]}
    assert kinds == {"ringbuf", "perf"}
    asked = [packet[14] & 31 for packet in PACKETS]
    written = [sum(event["type"] == "ringbuf" for event in outcome[6]) for outcome in want]
    assert 25 in asked and all(w < 25 for a, w in zip(asked, written) if a == 25)  # the ring was full: -EAGAIN


def test_a_log_that_must_grow_and_a_batch_that_stops_half_way(obj, monkeypatch):
    monkeypatch.setattr(jit_engine, "EVENT_LOG", 64)  # smaller than one packet's records
    _, want, _ = outcomes(VmEngine, obj, "events", PACKETS)
    for batch in (False, True):
        _, got, _ = outcomes(JitEngine, obj, "events", PACKETS, batch)
        assert got == want


def test_reservations_are_native_and_in_order(obj):
    _, want, _ = outcomes(VmEngine, obj, "mixed", PACKETS[:3])
    for batch in (False, True):
        jit, got, _ = outcomes(JitEngine, obj, "mixed", PACKETS[:3], batch)
        assert got == want
        assert not any(jit.helper_fallbacks().values()), jit.helper_fallbacks()
    assert [e["data"][:2] for e in want[0][6]] == ["07", "09", "07"]


def test_beside_a_python_callback_they_all_stay_in_python_and_in_order(obj):
    _, want, _ = outcomes(VmEngine, obj, "mixed_python", PACKETS[:3])
    jit, got, _ = outcomes(JitEngine, obj, "mixed_python", PACKETS[:3])
    assert got == want
    assert [e["data"][:2] for e in want[0][6]] == ["07", "09", "03"]
    # for_each_map_elem's walk and callback are native (foreach.py), but a program that calls it
    # keeps its event helpers in Python: the callback's ringbuf_output calls are counted too
    fallbacks = jit.helper_fallbacks()
    assert fallbacks["bpf_ringbuf_output"] == 6 and fallbacks["bpf_ringbuf_reserve"] == 3, fallbacks
    assert fallbacks["bpf_for_each_map_elem"] == 0


def test_many_records_a_full_pool_and_a_growing_arena(obj):
    packets = [bytes(range(14)) + bytes([n, k]) + bytes(8) for n, k in ((3, 1), (70, 7), (64, 255), (65, 3), (79, 128),
                                                                       (0, 0), (10, 99))]
    _, want, _ = outcomes(VmEngine, obj, "many_records", packets)
    for batch in (False, True):
        jit, got, _ = outcomes(JitEngine, obj, "many_records", packets, batch)
        assert got == want
        assert not any(jit.helper_fallbacks().values()), jit.helper_fallbacks()
    assert [o[1] for o in want] == [0, 6, 0, 1, 15, 0, 0]  # NULLs past 64 held records
    assert len(want[1][6]) == 32  # the odd ones of the 64 made


def test_a_pointer_inside_a_record_faults_alike(obj):
    _, want, _ = outcomes(VmEngine, obj, "submit_inside", PACKETS[:2])
    _, got, _ = outcomes(JitEngine, obj, "submit_inside", PACKETS[:2])
    assert got == want and "not a reservation" in want[0][4][1], want[0]
