"""bpf_trace_printk as the kernel has it (runtime/printk.py, after kernel/bpf/helpers.c
bpf_bprintf_prepare and lib/vsprintf.c): which formats are refused (-EINVAL), the binary
buffer's room (-ENOSPC), strings and addresses that cannot be read (empty, zeros) and the
return value, the text's length -- the vm and the jit agree with the live kernel on it.  The jit
formats natively, with no call through Python and the same text as the vm, both the formats
the program holds (.rodata or built on its stack) and those it has only at run time (copied
from the packet to its stack or to a map value)."""

from __future__ import annotations

import random

import pytest

from test_jit_diff import observable
from test_jit_maps import compiled
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.runtime import printk
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.jit import JitEngine
from xdptool.runtime.maps import MapStore

_KERNEL = kernel_unavailable_reason()

# bytes 14..77: the format (64 bytes, its NUL where the packet puts it); 78..101: three u64
# arguments; 102: bit i makes argument i the address of `str` plus its low 5 bits; 103..134:
# `str`.  Back: r0 at 14..21.
DYNAMIC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* the arguments at 78..101, which of them point into the string at 103.. (the byte at 102),
   the call, and its return value written over the format */
static __always_inline int print_with(struct xdp_md *ctx, char *fmt, __u32 fmt_size)
{
	char str[32];
	__u64 a[3];
	__u8 ptrs;
	long r;

	if (bpf_xdp_load_bytes(ctx, 78, a, sizeof(a)) || bpf_xdp_load_bytes(ctx, 102, &ptrs, 1) ||
	    bpf_xdp_load_bytes(ctx, 103, str, sizeof(str)))
		return XDP_PASS;
	if (ptrs & 1)
		a[0] = (__u64)(long)(str + (a[0] & 15));
	if (ptrs & 2)
		a[1] = (__u64)(long)(str + (a[1] & 15));
	if (ptrs & 4)
		a[2] = (__u64)(long)(str + (a[2] & 15));
	r = bpf_trace_printk(fmt, fmt_size, a[0], a[1], a[2]);
	bpf_xdp_store_bytes(ctx, 14, &r, sizeof(r));
	return XDP_TX;
}

/* the format on the stack, copied from the packet (14..77) */
SEC("xdp") int dynamic(struct xdp_md *ctx)
{
	char fmt[64];

	if (bpf_xdp_load_bytes(ctx, 14, fmt, sizeof(fmt)))
		return XDP_PASS;
	return print_with(ctx, fmt, sizeof(fmt));
}

/* the same with the format in a map value (a format table a control plane would fill) */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, char[64]); }
	formats SEC(".maps");

SEC("xdp") int from_map(struct xdp_md *ctx)
{
	__u32 zero = 0;
	char *fmt = bpf_map_lookup_elem(&formats, &zero);

	if (!fmt || bpf_xdp_load_bytes(ctx, 14, fmt, 64))
		return XDP_PASS;
	return print_with(ctx, fmt, 64);
}

/* run-time formats with long strings: the format at 14..77, offsets into `big` (103..702) at
   78..81, a number at 82..89 */
char big[600];

SEC("xdp") int from_map_long(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u16 off[2];
	__u64 n;
	char *fmt = bpf_map_lookup_elem(&formats, &zero);
	long r;

	if (!fmt || bpf_xdp_load_bytes(ctx, 14, fmt, 64) || bpf_xdp_load_bytes(ctx, 78, off, sizeof(off)) ||
	    bpf_xdp_load_bytes(ctx, 82, &n, sizeof(n)) || bpf_xdp_load_bytes(ctx, 103, big, sizeof(big)))
		return XDP_PASS;
	big[sizeof(big) - 1] = 0;
	r = bpf_trace_printk(fmt, 64, (long)(big + (off[0] & 511)), (long)(big + (off[1] & 511)), n);
	bpf_xdp_store_bytes(ctx, 14, &r, sizeof(r));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""

LONG_FORMATS = [b"%s|%s|%d", b"%s%s%s", b"%-600s|%s", b"%s %pI4 %pi6", b"%300s%300s%x", b"%c%s%s"]


def _long_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        fmt = rng.choice(LONG_FORMATS).ljust(64, b"\0")
        offsets = [rng.choice([0, 1, 100, 300, 511, rng.randrange(512)]) for _ in range(2)]
        big = bytearray(rng.choice(b"abc ") for _ in range(600))
        for _ in range(rng.randrange(3)):
            big[rng.randrange(600)] = 0
        packets.append(bytes(range(14)) + fmt + b"".join(o.to_bytes(2, "little") for o in offsets)
                       + rng.randrange(1 << 64).to_bytes(8, "little") + bytes(13) + bytes(big))
    return packets


FORMATS = [b"x=%d u=%u h=%x\n", b"%lld %llx %c%%", b"%5d|%-5d|%05d", b"%+d % d %+u", b"%lX %lu %li",
           b"%s!", b"%-12s|%12s|", b"%pI4 %pi4", b"%pI6", b"%pi6 %s", b"%p %px", b"%pK", b"%pks %pus",
           b"no conversion", b"tab\tnewline\n", b"%%%%", b"%020llu|%-3c|",
           b"a\x80b", b"%d\xff", b"%5c", b"%-5c|", b"%010s|", b"%pS %pB", b"%p%d", b"%-+ 05d", b"%ps",
           # refused: -EINVAL
           b"%hd", b"%#x", b"%zd", b"%sa", b"%lc", b"%d %d %d %d", b"%q", b"%", b"%pq", b"bell\x07", b"\xe9",
           b"%.3d", b"%ll", b"%pI5", b"%llld", b"%pksa", b"\x7f", b"%5%"]


def _reading(fmt: bytes, max_args: int = printk.MAX_ARGS) -> int:
    """Bit i set when the format's conversion i reads through its argument or prints it as a
    pointer (16 digits either way): only those may be given the address of `str`."""
    pieces = printk.parse(fmt, max_args)
    kinds = [c.kind for c in printk.conversions(pieces)] if pieces else []
    reading = printk.STRING_KINDS | set(printk.ADDRESS_KINDS) | printk.POINTER_KINDS
    return sum(1 << i for i, kind in enumerate(kinds) if kind in reading)


def _string(rng: random.Random, size: int = 32) -> bytes:
    """`size` printable bytes, cut short by a NUL somewhere (or not), NUL-terminated."""
    string = bytes(rng.choice(b"abcxyz09 .") for _ in range(size))
    cut = rng.randrange(size + 8)
    string = string[:cut] + b"\0" + string[cut + 1:] if cut < size - 1 else string
    return string[:size - 1] + b"\0"  # what lies past `str` is each engine's own stack


def _dynamic_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        fmt = rng.choice(FORMATS)
        nul = rng.choice([len(fmt), len(fmt), 64])  # 64: no NUL in the buffer
        text = (fmt + b"\0")[:nul].ljust(64, rng.choice([b"\0", b"A"]))[:64] if nul < 64 else fmt.ljust(64, b"B")
        args = [rng.choice([0, 1, 7, 255, 1 << 31, (1 << 32) - 1, (1 << 63), (1 << 64) - 1, rng.randrange(1 << 64),
                            rng.randrange(4096)]) for _ in range(3)]
        ptrs = rng.randrange(8) & _reading(fmt)  # an address printed as a number is the kernel's own
        string = _string(rng)
        packets.append(bytes(range(14)) + text + b"".join(a.to_bytes(8, "little") for a in args)
                       + bytes([ptrs]) + string[:32])
    return packets


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("printk"), "dynamic", DYNAMIC)


def _retvals(engine_name: str, obj, prog: str, packets, config=None):
    from xdptool.runtime.engines import make_engine

    config = config or RuntimeConfig()
    with make_engine(engine_name, obj.program(prog), MapStore.for_object(obj, config), config) as engine:
        results = [engine.run(packet) for packet in packets]
        fallbacks = engine.helper_fallbacks() if engine_name == "jit" else None
    return [int.from_bytes(r.packet[14:22], "little", signed=True) for r in results], results, fallbacks


def agree(obj, prog: str, packets, helper: str, fallbacks: int = 0) -> tuple[list[int], list]:
    """The jit's results equal the vm's, by `run` and by the packet loop, with `fallbacks`
    calls of `helper` through its Python helper each way; (the vm's values, its results)."""
    vm_values, vm_results, _ = _retvals("vm", obj, prog, packets)
    _, jit_results, counts = _retvals("jit", obj, prog, packets)
    assert [observable(r) for r in jit_results] == [observable(r) for r in vm_results]
    assert counts[helper] == fallbacks, counts
    with JitEngine(obj.program(prog), MapStore.for_object(obj)) as engine:  # the packet loop
        assert [observable(r) for r in engine.run_batch(packets)] == [observable(r) for r in vm_results]
        assert engine.helper_fallbacks()[helper] == fallbacks
    return vm_values, vm_results


def agree_with_the_kernel(obj, prog: str, packets) -> None:
    """Both engines' return values (r0, written back at 14..21) equal the live kernel's."""
    kernel, _, _ = _retvals("kernel", obj, prog, packets)
    for engine in ("vm", "jit"):
        ours, _, _ = _retvals(engine, obj, prog, packets)
        for index, (want, got) in enumerate(zip(kernel, ours)):
            assert got == want, f"{engine} packet {index}: {packets[index][14:110]!r}"


@pytest.mark.parametrize("prog", ["dynamic", "from_map"])
def test_vm_and_jit_agree_on_any_format_natively(dynamic, prog):
    """A format known only at run time (the stack, a map value) is parsed natively
    (jit/printk_format.py): the same lines and values as the vm, no call through Python."""
    vm_values, vm_results = agree(dynamic, prog, _dynamic_packets(5, 300), "bpf_trace_printk")
    assert -22 in vm_values and max(vm_values) > 20  # refused, printed
    assert sum(bool(r.trace_printk) for r in vm_results) > 50


def test_long_strings_fill_the_buffer_natively(dynamic):
    """-ENOSPC past the 512-byte binary buffer, and strings cut to what is left, with a
    run-time format: jit == vm, no call through Python."""
    vm_values, _ = agree(dynamic, "from_map_long", _long_packets(8, 150), "bpf_trace_printk")
    assert -28 in vm_values and max(vm_values) > 500


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
@pytest.mark.parametrize("prog", ["dynamic", "from_map", "from_map_long"])
def test_the_engines_return_what_the_kernel_returns(dynamic, prog):
    agree_with_the_kernel(dynamic, prog, _long_packets(9, 150) if prog == "from_map_long" else _dynamic_packets(6, 300))


# Formats the program holds: libbpf's bpf_printk puts them in .rodata, `char f[] = ...` builds
# them on the stack.  Byte 14 picks the site, 15..38 three u64 arguments, 39 which of them are
# the address of `str` (40..71); site 13 prints two strings from `big` (72..671) at the offsets in bytes 15..18.  Back: r0 at
# 14..21.
STATIC = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SITE(n, fmt) case n: r = bpf_printk(fmt, a[0], a[1], a[2]); break

char big[600];  /* site 13's strings: long enough to fill the 512-byte binary buffer */

SEC("xdp") int held(struct xdp_md *ctx)
{
	__u64 a[3];
	char str[32];
	__u8 site, ptrs;
	long r = -1;

	if (bpf_xdp_load_bytes(ctx, 14, &site, 1) || bpf_xdp_load_bytes(ctx, 15, a, sizeof(a)) ||
	    bpf_xdp_load_bytes(ctx, 39, &ptrs, 1) || bpf_xdp_load_bytes(ctx, 40, str, sizeof(str)))
		return XDP_PASS;
	if (ptrs & 1)
		a[0] = (__u64)(long)(str + (a[0] & 15));
	if (ptrs & 2)
		a[1] = (__u64)(long)(str + (a[1] & 15));
	if (ptrs & 4)
		a[2] = (__u64)(long)(str + (a[2] & 15));
	switch (site) {
	SITE(0, "x=%d u=%u h=%x\n");
	SITE(1, "%lld %llx %c%%");
	SITE(2, "%5d|%-5d|%05d");
	SITE(3, "%+d % d %+u");
	SITE(4, "%lX %lu %li");
	SITE(5, "str %s! ip %pI4 v6 %pI6");
	SITE(6, "%pi4 %pi6 %-20s|");
	SITE(7, "%p %px %pK");
	SITE(8, "no conversions at all");
	SITE(9, "%020llu|%-3c|%10x");
	SITE(10, "%hd %d");
	SITE(11, "%pks %pus %s");
	case 13: {
		__u16 off[2];

		if (bpf_xdp_load_bytes(ctx, 72, big, sizeof(big)) || bpf_xdp_load_bytes(ctx, 15, off, sizeof(off)))
			return XDP_PASS;
		big[sizeof(big) - 1] = 0;
		r = bpf_printk("%s|%s|%d", big + (off[0] & 511), big + (off[1] & 511), a[2]);
		break;
	}
	case 12: {
		char f[] = "stack %d %s %llx\n";

		r = bpf_trace_printk(f, sizeof(f), a[0], a[1], a[2]);
		break;
	}
	default:
		return XDP_DROP;
	}
	bpf_xdp_store_bytes(ctx, 14, &r, sizeof(r));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""
SITE_FORMATS = [b"x=%d u=%u h=%x\n", b"%lld %llx %c%%", b"%5d|%-5d|%05d", b"%+d % d %+u", b"%lX %lu %li",
                b"str %s! ip %pI4 v6 %pI6", b"%pi4 %pi6 %-20s|", b"%p %px %pK", b"no conversions at all",
                b"%020llu|%-3c|%10x", b"%hd %d", b"%pks %pus %s", b"stack %d %s %llx\n", b"%s|%s|%d"]


def _static_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        site = rng.randrange(len(SITE_FORMATS))
        args = [rng.choice([0, 1, 9, 10, 99, 100, 255, 1 << 31, (1 << 32) - 1, 1 << 63, (1 << 64) - 1,
                            rng.randrange(1 << 64), rng.randrange(4096), 10 ** rng.randrange(20)]) for _ in range(3)]
        string = _string(rng)
        big = bytearray(rng.choice(b"abc ") for _ in range(600))
        for _ in range(rng.randrange(3)):
            big[rng.randrange(600)] = 0
        packets.append(bytes(range(14)) + bytes([site]) + b"".join(a.to_bytes(8, "little") for a in args)
                       + bytes([rng.randrange(8) & _reading(SITE_FORMATS[site])]) + string + bytes(big))
    return packets


@pytest.fixture(scope="module")
def held(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("printk_held"), "held", STATIC)


def test_held_formats_run_natively_and_print_what_the_vm_prints(held):
    values, vm_results = agree(held, "held", _static_packets(7, 400), "bpf_trace_printk")
    assert {-22, -28} <= set(values)  # %hd; two strings past the 512-byte buffer
    lines = [line for r in vm_results for line in r.trace_printk]
    assert len(lines) > 300 and any(line.startswith("stack ") for line in lines)


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
def test_held_formats_return_what_the_kernel_returns(held):
    packets = _static_packets(8, 300)
    kernel, _, _ = _retvals("kernel", held, "held", packets)
    jit, _, _ = _retvals("jit", held, "held", packets)
    assert jit == kernel


# bpf_trace_vprintk, libbpf's bpf_printk with more than three arguments: the format at 14..77,
# data_len at 78 (255: data NULL and data_len 0), at 79..80 which arguments are the address of
# `str` (a bit each), twelve u64 arguments at 81..176, `str` at 177..208.  Back: r0 at 14..21.
VARARGS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp") int varargs(struct xdp_md *ctx)
{
	char fmt[64], str[32];
	__u64 a[12];
	__u16 ptrs;
	__u8 len;
	long r;
	int i;

	if (bpf_xdp_load_bytes(ctx, 14, fmt, sizeof(fmt)) || bpf_xdp_load_bytes(ctx, 78, &len, 1) ||
	    bpf_xdp_load_bytes(ctx, 79, &ptrs, 2) || bpf_xdp_load_bytes(ctx, 81, a, sizeof(a)) ||
	    bpf_xdp_load_bytes(ctx, 177, str, sizeof(str)))
		return XDP_PASS;
#pragma unroll
	for (i = 0; i < 12; i++)
		if (ptrs >> i & 1)
			a[i] = (__u64)(long)(str + (a[i] & 15));
	if (len == 255) {
		r = bpf_trace_vprintk(fmt, sizeof(fmt), NULL, 0);
	} else {
		if (len > sizeof(a))
			len = sizeof(a);
		r = bpf_trace_vprintk(fmt, sizeof(fmt), a, len);
	}
	bpf_xdp_store_bytes(ctx, 14, &r, sizeof(r));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""

VARARG_FORMATS = [b"%d %d %d %d", b"%s|%s|%d|%u|%x", b"%llx %lld %c %c %c %%", b"%d" * 12, b"%u|" * 12,
                  b"%pI4 %pi6 %s %d %p", b"no conversion", b"%-8s|%08llx|%5c|%s", b"%s%s%s%s%s%s",
                  b"%300s%300s%d %d", b"%pK %px %pS %llu",
                  # refused: -EINVAL (13 conversions, or a conversion the kernel refuses)
                  b"%d" * 13, b"%hd %d %d %d", b"%d %d %d %q"]
VARARG_LENGTHS = [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 96, 96, 12, 33, 95, 255]


def _twelve_args(rng: random.Random) -> list[int]:
    """MAX_BPRINTF_VARARGS u64 arguments: edge values and random ones."""
    return [rng.choice([0, 7, 255, 1 << 31, (1 << 64) - 1, rng.randrange(1 << 64), rng.randrange(4096)])
            for _ in range(printk.MAX_VARARGS)]


def _vararg_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        fmt = rng.choice(VARARG_FORMATS)
        args = _twelve_args(rng)
        ptrs = rng.randrange(1 << printk.MAX_VARARGS) & _reading(fmt, printk.MAX_VARARGS)
        string = _string(rng)
        packets.append(bytes(range(14)) + (fmt + b"\0").ljust(64, b"\0") + bytes([rng.choice(VARARG_LENGTHS)])
                       + ptrs.to_bytes(2, "little") + b"".join(a.to_bytes(8, "little") for a in args) + string)
    return packets


@pytest.fixture(scope="module")
def varargs(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("vprintk"), "varargs", VARARGS)


def test_vprintk_prints_up_to_twelve_arguments_on_both_engines(varargs):
    """bpf_trace_vprintk on the vm and the jit (through its Python helper, counted as a
    fallback): the same lines and return values, -EINVAL for a data_len that is no multiple
    of 8 and for more conversions than arguments."""
    packets = _vararg_packets(11, 300)
    vm_values, vm_results = agree(varargs, "varargs", packets, "bpf_trace_vprintk", fallbacks=len(packets))
    assert -22 in vm_values and max(vm_values) > 300  # refused; two 300-wide strings printed
    lines = [line for r in vm_results for line in r.trace_printk]
    assert len(lines) > 100 and any(line.count("|") >= 12 for line in lines)


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
def test_vprintk_returns_what_the_kernel_returns(varargs):
    agree_with_the_kernel(varargs, "varargs", _vararg_packets(12, 300))


# libbpf's bpf_printk with more than 3 arguments: the format in .rodata, the arguments in a u64
# array on the stack, data_len a constant -- native on the jit.  Byte 14 picks the site, 15..110
# twelve u64 arguments, `str` at 111..142.  Back: r0 at 14..21.
HELD_VARARGS = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp") int held_varargs(struct xdp_md *ctx)
{
	__u64 a[12];
	char str[32];
	__u8 site;
	long r;

	if (bpf_xdp_load_bytes(ctx, 14, &site, 1) || bpf_xdp_load_bytes(ctx, 15, a, sizeof(a)) ||
	    bpf_xdp_load_bytes(ctx, 111, str, sizeof(str)))
		return XDP_PASS;
	str[31] = 0;
	switch (site & 7) {
	case 0: r = bpf_printk("four %d %u %x %llx", a[0], a[1], a[2], a[3]); break;
	case 1: r = bpf_printk("%s|%d|%s|%c|%5d", str, a[0], str + (a[1] & 15), a[2], a[3]); break;
	case 2: r = bpf_printk("%d %d %d %d %d %d %d %d %d %d %d %llu", a[0], a[1], a[2], a[3], a[4], a[5], a[6],
			       a[7], a[8], a[9], a[10], a[11]); break;
	case 3: r = bpf_printk("%pI4 %pi4 %pI6 %d", str, str + 4, str, a[0]); break;
	case 4: r = bpf_printk("%-10s|%010llu|%+d|% d|%px", str, a[0], a[1], a[2], a[3]); break;
	case 5: r = bpf_printk("%hd %d %d %d", a[0], a[1], a[2], a[3]); break;
	case 6: r = bpf_printk("%s%s%s%s%s%s", str, str + 1, str + 2, str + 3, str + 4, str + 5); break;
	default: r = bpf_printk("%250s%250s%d %d", str, str, a[0], a[1]); break;
	}
	bpf_xdp_store_bytes(ctx, 14, &r, sizeof(r));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
"""


def _held_vararg_packets(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    packets = []
    for _ in range(count):
        args = _twelve_args(rng)
        string = _string(rng)
        packets.append(bytes(range(14)) + bytes([rng.randrange(256)]) + b"".join(a.to_bytes(8, "little") for a in args)
                       + string)
    return packets


@pytest.fixture(scope="module")
def held_varargs(tmp_path_factory):
    return compiled(tmp_path_factory.mktemp("vprintk_held"), "held_varargs", HELD_VARARGS)


def test_held_vprintk_formats_run_natively_and_print_what_the_vm_prints(held_varargs):
    vm_values, vm_results = agree(held_varargs, "held_varargs", _held_vararg_packets(13, 400), "bpf_trace_vprintk")
    assert -22 in vm_values and max(vm_values) > 500  # %hd refused; two 250-wide strings
    lines = [line for r in vm_results for line in r.trace_printk]
    assert len(lines) > 300 and any(line.startswith("four ") for line in lines)


@pytest.mark.kernel
@pytest.mark.skipif(_KERNEL is not None, reason=f"kernel: {_KERNEL}")
def test_held_vprintk_formats_return_what_the_kernel_returns(held_varargs):
    agree_with_the_kernel(held_varargs, "held_varargs", _held_vararg_packets(14, 300))
