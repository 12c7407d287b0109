"""bpf_timer_init/set_callback/start/cancel in the engines (runtime/helpers.py): the return
values the kernel gives (kernel/bpf/helpers.c: -EINVAL for bad clocks and flags, for a timer
not initialised or without a callback, -EBUSY for a second init, cancel's 1 for an armed
timer) in a sequence of calls the packets choose, the same on the vm, the jit and the live
kernel (BPF_PROG_TEST_RUN; every start is far in the future, so no timer fires there either);
the jit runs them natively; and a replay of a program that armed a timer says in its warnings
that timers never fire."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.helpers import TIMERS_NEVER_FIRE, Timers
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct elem { struct bpf_timer t; __u64 fired; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
         __type(key, __u32); __type(value, struct elem); } timers SEC(".maps");

static int expired(void *map, __u32 *key, struct elem *e)
{
	e->fired++;
	return 0;
}

/* packet byte 14: the timer (0-3); 15: the call; 16: its flags.  r0 of the call goes to bytes 18..25 */
SEC("xdp") int timer_calls(struct xdp_md *ctx)
{
	__u8 a[3];
	__u32 k;
	struct elem *e;
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	k = a[0] & 3;
	e = bpf_map_lookup_elem(&timers, &k);
	if (!e)
		return XDP_DROP;
	switch (a[1] & 3) {
	case 0:
		r = bpf_timer_init(&e->t, &timers, a[2]);
		break;
	case 1:
		r = bpf_timer_set_callback(&e->t, expired);
		break;
	case 2:  /* 2**62 ns: 146 years from now, or (absolute) in 2116 */
		r = bpf_timer_start(&e->t, 1ULL << 62, a[2]);
		break;
	default:
		r = bpf_timer_cancel(&e->t);
		break;
	}
	bpf_xdp_store_bytes(ctx, 18, &r, sizeof(r));
	return XDP_TX;
}

/* initialises a timer but never starts it: nothing to warn about */
SEC("xdp") int timer_unarmed(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct elem *e = bpf_map_lookup_elem(&timers, &k);

	if (e)
		bpf_timer_init(&e->t, &timers, 1);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""

INIT, SET_CALLBACK, START, CANCEL = range(4)
CALLS = [  # (timer, call, flags) -> what Linux 6.18 answers (kernel/bpf/helpers.c)
    (0, CANCEL, 0), (0, SET_CALLBACK, 0), (0, START, 0),  # not initialised: -EINVAL
    (0, INIT, 2), (0, INIT, 16), (0, INIT, 17),  # CLOCK_PROCESS_CPUTIME_ID, flags >= MAX_CLOCKS: -EINVAL
    (0, INIT, 1), (0, INIT, 1), (0, INIT, 0),  # 0, then -EBUSY
    (0, START, 0), (0, CANCEL, 0),  # no callback yet: -EINVAL; cancel of an unarmed timer: 0
    (0, SET_CALLBACK, 0), (0, START, 4), (0, START, 0),  # bad start flags: -EINVAL; then armed
    (0, CANCEL, 0), (0, CANCEL, 0),  # 1 (was armed), then 0
    (0, START, 0), (0, SET_CALLBACK, 0),  # a cancel dropped the callback (drop_prog_refcnt): -EINVAL
    (0, START, 1), (0, START, 2), (0, START, 3), (0, CANCEL, 0),  # BPF_F_TIMER_ABS, _CPU_PIN, both; 1
    (1, INIT, 7), (1, SET_CALLBACK, 0), (1, START, 0), (2, INIT, 0), (2, START, 0),  # BOOTTIME; REALTIME
    (3, INIT, 8), (3, INIT, 15), (1, CANCEL, 0), (1, SET_CALLBACK, 0), (1, START, 0),
]
PACKETS = [bytes(range(14)) + bytes([timer, call, flags]) + bytes(20) for timer, call, flags in CALLS]
EINVAL, EBUSY = -22, -16
WANT = [EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, 0, EBUSY, EBUSY, EINVAL, 0, 0, EINVAL, 0, 1, 0,
        EINVAL, 0, 0, 0, 0, 1, 0, 0, 0, 0, EINVAL, EINVAL, EINVAL, 1, 0, 0]
_KERNEL = kernel_unavailable_reason()


def answers(results) -> list[int]:
    return [struct.unpack_from("<q", r.packet, 18)[0] for r in results]


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("timers"), "timers", SOURCE)


@pytest.mark.parametrize("engine_class", [VmEngine, JitEngine])
def test_the_engines_answer_as_the_kernel_source_says(obj, engine_class):
    store = MapStore.for_object(obj)
    engine = engine_class(obj.program("timer_calls"), store)
    results = [engine.run(p) for p in PACKETS]
    assert answers(results) == WANT
    assert all(r.verdict == "XDP_TX" for r in results)
    assert engine.notes() == [TIMERS_NEVER_FIRE]
    assert all(entry["value"] == "00" * 24 for entry in store.dump()["timers"])  # never fired, state not in the map


def test_vm_and_jit_agree_and_the_jit_is_native(obj):
    outcomes = []
    for engine_class in (VmEngine, JitEngine):
        store = MapStore.for_object(obj)
        engine = engine_class(obj.program("timer_calls"), store)
        outcomes.append(([observable(engine.run(p)) for p in PACKETS], store.dump()))
    assert outcomes[0] == outcomes[1]
    assert not any(engine.helper_fallbacks().values()), engine.helper_fallbacks()
    batched = JitEngine(obj.program("timer_calls"), MapStore.for_object(obj))
    assert answers(batched.run_batch(PACKETS)) == WANT and batched.notes() == [TIMERS_NEVER_FIRE]


def test_timers_in_regions_past_the_first_words_grow_them(obj):
    """A timer whose value region has an id past what the words cover is initialised by the
    Python helper, which grows them; native code then uses the new words."""
    store = MapStore.for_object(obj)
    engine = JitEngine(obj.program("timer_calls"), store)
    engine.shadow.timers = Timers(regions=2)  # every value region is past it
    assert answers([engine.run(p) for p in PACKETS]) == WANT
    fallbacks = engine.helper_fallbacks()
    assert 0 < fallbacks["bpf_timer_init"] <= 3 and fallbacks["bpf_timer_start"] == 0, fallbacks


def test_a_timer_never_started_gives_no_note(obj):
    engine = JitEngine(obj.program("timer_unarmed"), MapStore.for_object(obj))
    engine.run(PACKETS[0])
    assert engine.notes() == []


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
def test_the_kernel_answers_alike(obj):
    from xdptool.runtime.engines import make_engine

    store = MapStore.for_object(obj)
    with make_engine("kernel", obj.program("timer_calls"), store) as kernel:
        results = kernel.run_batch(PACKETS)
    assert answers(results) == WANT
    assert all(entry["value"] == "00" * 24 for entry in store.dump()["timers"])


def _pcap(path, frames) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, frame in enumerate(frames):
            f.write(struct.pack("<IIII", 0, i, len(frame), len(frame)) + frame)


@pytest.mark.parametrize("queues", [1, 2])
def test_replay_warns_that_timers_never_fire(obj, tmp_path, queues):
    capture = tmp_path / "calls.pcap"
    _pcap(capture, PACKETS)
    command = [sys.executable, "-m", "xdptool.cli.main", "replay", obj.path, str(capture), "-p", "timer_calls",
               "--json", "--queues", str(queues)]
    if queues > 1:
        command.append("--sum-shared-maps")
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ}, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["warnings"] == [TIMERS_NEVER_FIRE]
    assert summary["helper_fallbacks"]["bpf_timer_start"] == 0  # native in the jit
