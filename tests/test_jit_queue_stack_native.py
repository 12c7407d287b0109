"""bpf_map_push_elem / pop_elem / peek_elem on queue and stack maps as native code in the jit
(runtime/jit/queue_stack.py over the ring QueueStackMap keeps): a sequence of pushes (with and
without BPF_EXIST, bad flags), pops and peeks the packets choose answers the same on the vm,
the jit (no call through Python) and the live kernel (BPF_PROG_TEST_RUN), maps included."""

from __future__ import annotations

import random

import pytest

from engine_diff import agrees_with_the_kernel
from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_QUEUE); __uint(max_entries, 5); __type(value, __u32); } fifo SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_STACK); __uint(max_entries, 4); __type(value, __u64); } lifo SEC(".maps");

/* byte 14: the operation; 15: push flags; 16: the value.  r0 and what was taken go to bytes 20..35 */
SEC("xdp") int queue_stack(struct xdp_md *ctx)
{
	__u8 a[3];
	__u32 v4 = 0xdead;
	__u64 v8 = 0xbeef, out[2];
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, a, sizeof(a)))
		return XDP_PASS;
	switch (a[0] % 6) {
	case 0:
		v4 = a[2] | 0x100;
		r = bpf_map_push_elem(&fifo, &v4, a[1]);
		break;
	case 1:
		r = bpf_map_pop_elem(&fifo, &v4);
		break;
	case 2:
		r = bpf_map_peek_elem(&fifo, &v4);
		break;
	case 3:
		v8 = (__u64)a[2] << 32 | 7;
		r = bpf_map_push_elem(&lifo, &v8, a[1]);
		break;
	case 4:
		r = bpf_map_pop_elem(&lifo, &v8);
		break;
	default:
		r = bpf_map_peek_elem(&lifo, &v8);
		break;
	}
	out[0] = r;
	out[1] = a[0] % 6 < 3 ? v4 : v8;
	bpf_xdp_store_bytes(ctx, 20, out, sizeof(out));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""

_KERNEL = kernel_unavailable_reason()


def _packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    return [bytes(range(14)) + bytes([rng.choice([0, 0, 3, 3, 1, 2, 4, 5]), rng.choice([0, 0, 2, 2, 1, 4]),
                                      rng.randrange(256)]) + bytes(24) for _ in range(200)]


PACKETS = _packets(87, 200)


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("queue_stack"), "queue_stack", SOURCE)


def test_vm_and_jit_agree_with_no_python_call(obj):
    outcomes = []
    for engine_class, batch in ((VmEngine, False), (JitEngine, False), (JitEngine, True)):
        store = MapStore.for_object(obj)
        engine = engine_class(obj.program("queue_stack"), store)
        results = engine.run_batch(PACKETS) if batch else [engine.run(p) for p in PACKETS]
        outcomes.append(([observable(r) for r in results], store.dump()))
    assert outcomes[1] == outcomes[0] and outcomes[2] == outcomes[0]
    assert not any(engine.helper_fallbacks().values()), engine.helper_fallbacks()
    answers = {int.from_bytes(o[2][20:28], "little", signed=True) for o in outcomes[0][0]}
    assert {0, -2, -7, -22} <= answers  # fine, -ENOENT, -E2BIG, -EINVAL


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
def test_engines_agree_with_the_kernel(obj, engine):
    agrees_with_the_kernel(obj, "queue_stack", engine, PACKETS)
