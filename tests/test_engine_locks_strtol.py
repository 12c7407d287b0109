"""bpf_spin_lock / bpf_spin_unlock and bpf_strtol / bpf_strtoul in the engines: the vm and
the jit (natively: no Python fallback) agree with the live kernel (BPF_PROG_TEST_RUN) on
verdict, bytes and maps, and stop a program the kernel's verifier refuses for its locking
with the verifier's own words (a replay runs one program at a time: a lock is always free,
but which one is held is kept)."""

from __future__ import annotations

import struct

import pytest

from engine_diff import agrees_with_the_kernel, outcomes
from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime.helpers import strtoull
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct counter { struct bpf_spin_lock lock; __u32 hits; __u64 bytes; };
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
         __type(key, __u32); __type(value, struct counter); } counters SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __s64); } parsed SEC(".maps");

static __always_inline struct counter *counter_of(struct xdp_md *ctx, unsigned char **p)
{
	*p = (void *)(long)ctx->data;
	if ((void *)(*p + 4) > (void *)(long)ctx->data_end)
		return 0;
	__u32 key = (*p)[0] & 1;
	return bpf_map_lookup_elem(&counters, &key);
}

SEC("xdp") int locked(struct xdp_md *ctx)
{
	unsigned char *p;
	struct counter *c = counter_of(ctx, &p);
	if (!c)
		return XDP_ABORTED;
	bpf_spin_lock(&c->lock);
	c->hits++;
	c->bytes += (long)ctx->data_end - (long)ctx->data;
	__u32 hits = c->hits;
	bpf_spin_unlock(&c->lock);
	p[1] = hits;
	return hits & 1 ? XDP_PASS : XDP_DROP;
}

/* p[0]: flags, p[1]: how many of the 32 bytes from p[2] on to parse (at least 1) */
SEC("xdp") int strtox(struct xdp_md *ctx)
{
	unsigned char *p = (void *)(long)ctx->data;
	if ((void *)(p + 40) > (void *)(long)ctx->data_end)
		return XDP_ABORTED;
	char text[32];
	__builtin_memcpy(text, p + 2, 32);
	__u32 len = p[1] & 31;
	if (len == 0)
		len = 1;
	long res = 7;
	unsigned long ures = 7;
	long r = bpf_strtol(text, len, p[0], &res);
	long u = bpf_strtoul(text, len, p[0], &ures);
	__builtin_memcpy(p, &r, 8);
	__builtin_memcpy(p + 8, &res, 8);
	__builtin_memcpy(p + 16, &u, 8);
	__builtin_memcpy(p + 24, &ures, 8);
	__u32 key = 0;
	__s64 *v = bpf_map_lookup_elem(&parsed, &key);
	if (v)
		*v += res;
	return XDP_PASS;
}

/* What the kernel's verifier refuses (process_spin_lock, check_resource_leak). */
SEC("xdp") int lock_twice(struct xdp_md *ctx)
{
	unsigned char *p;
	struct counter *c = counter_of(ctx, &p);
	if (!c)
		return XDP_ABORTED;
	bpf_spin_lock(&c->lock);
	bpf_spin_lock(&c->lock);
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

SEC("xdp") int unlock_unheld(struct xdp_md *ctx)
{
	unsigned char *p;
	struct counter *c = counter_of(ctx, &p);
	if (!c)
		return XDP_ABORTED;
	bpf_spin_unlock(&c->lock);
	return XDP_PASS;
}

SEC("xdp") int exit_locked(struct xdp_md *ctx)
{
	unsigned char *p;
	struct counter *c = counter_of(ctx, &p);
	if (!c)
		return XDP_ABORTED;
	bpf_spin_lock(&c->lock);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
"""


def text(flags: int, chars: bytes) -> bytes:
    return bytes([flags, len(chars)]) + chars.ljust(32, b"\0") + bytes(10)


# Each shape of __bpf_strtoull: bases 0/8/10/16 and their prefixes, isspace() (0xa0 too), '-'
# (and no '+'), the 64-bit edges of both helpers, bad flags, nothing to parse.
TEXTS = [text(0, b"123"), text(0, b"  -42x"), text(16, b"0x1F"), text(0, b"0x1F"), text(0, b"017"), text(0, b"08"),
         text(8, b"777"), text(0, b"+5"), text(0, b"\xa0\t\n\v\f\r12"), text(0, b"18446744073709551615"),
         text(0, b"18446744073709551616"), text(0, b"9223372036854775808"), text(0, b"-9223372036854775808"),
         text(0, b"-9223372036854775809"), text(3, b"1"), text(0x30, b"12"), text(0, b"   "), text(0, b"-"),
         text(0, b"0xg"), text(16, b"0xg"), text(16, b"ffffffffffffffff"), text(10, b"99999999999999999999"),
         text(0, b"00000000000000000000000000000000"), text(0, b"12\x0034"), text(0, b"0X7fz"), text(0, b"0")]
PACKETS = {
    "locked": [bytes([k]) + bytes(20 + k) for k in range(6)],
    "strtox": TEXTS,
}
REFUSED = {  # program -> the kernel verifier's message (Linux 6.18)
    "lock_twice": "function calls are not allowed while holding a lock",  # the second lock is a call
    "unlock_unheld": "bpf_spin_unlock without taking a lock",
    "exit_locked": "BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region",
}
_KERNEL = kernel_unavailable_reason()


@pytest.fixture(scope="module")
def obj(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("locks"), "locks_strtol", SOURCE)


@pytest.mark.parametrize("name", list(PACKETS))
def test_vm_and_jit_agree_and_the_jit_is_native(obj, name):
    _, want, vm_maps = outcomes(VmEngine, obj, name, PACKETS[name])
    jit, got, jit_maps = outcomes(JitEngine, obj, name, PACKETS[name])
    assert got == want
    assert jit_maps == vm_maps
    assert all(o[0] != "XDP_ABORTED" for o in want), want
    fallbacks = jit.helper_fallbacks()
    assert all(count == 0 for count in fallbacks.values()), fallbacks
    batched = [observable(r) for r in JitEngine(obj.program(name), MapStore.for_object(obj)).run_batch(PACKETS[name])]
    assert batched == want


def test_strtox_answers_what_the_kernel_source_says():
    """A few answers worked out from kernel/bpf/helpers.c and lib/kstrtox.c by hand (the
    live kernel decides every other case below)."""
    assert strtoull(b"  -0x1fz", 0) == (7, 31, True)
    assert strtoull(b"08", 0) == (1, 0, False)  # "0" then an octal base: 8 is no digit
    assert strtoull(b"+1", 10) == -22
    assert strtoull(b"1", 2) == -22
    assert strtoull(b"18446744073709551616", 10) == -34


@pytest.mark.parametrize("name", list(REFUSED))
def test_what_the_verifier_refuses_stops_the_run_with_its_words(obj, name):
    packets = [bytes(8)]
    _, want, _ = outcomes(VmEngine, obj, name, packets)
    _, got, _ = outcomes(JitEngine, obj, name, packets)
    assert got == want
    fault = want[0][4]
    assert want[0][0] == "XDP_ABORTED" and fault[1].startswith(REFUSED[name]), fault


# -- against the kernel ------------------------------------------------------------------------------


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("engine", ["vm", "jit"])
@pytest.mark.parametrize("name", list(PACKETS))
def test_engines_agree_with_the_kernel(obj, name, engine):
    kernel = agrees_with_the_kernel(obj, name, engine, PACKETS[name])
    if name == "strtox":  # the cases mean what they say: errors and values both occur
        answers = {struct.unpack_from("<q", packet)[0] for _, _, packet in kernel}
        assert {-22, -34} <= answers and any(a > 0 for a in answers)


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("name", list(REFUSED))
def test_the_kernel_refuses_them_in_those_words(obj, name):
    from xdptool.kernel import verify_with_kernel

    verdict = verify_with_kernel(obj.program(name))
    assert not verdict.accepted and verdict.last_line == REFUSED[name], verdict.log[-500:]
