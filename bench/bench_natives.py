"""ns per helper call on the jit: the helpers issue 15 made native, each against its Python path.

For each helper a program calls it CALLS times per packet (a loop), and a twin program runs the
same loop without the call; (time of one - time of the other) / (packets * CALLS) is the cost
of a call.  Each program runs through the bulk API (`run_packed`, PACKETS packets, best of
TRIES) twice: with the native code, and with that helper's emitter taken out of the code
generator (`--python`'s path: the Python helper behind the callback, which is what every call
cost before).  Without the compile cache (XDPTOOL_NO_CACHE=1), so that both builds are made.

    python bench/bench_natives.py          # prints a table and a `RESULT {json}` line
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path

os.environ["XDPTOOL_NO_CACHE"] = "1"
PACKETS = 2_000
PYTHON_PACKETS = 100  # the Python path: ~10-300 us a call
CALLS = 32
TRIES = 5

SOURCE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 64);
         __type(key, __u32); __type(value, __u64); } arr SEC(".maps");
struct key4 { __u32 plen; __u32 addr; };
struct { __uint(type, BPF_MAP_TYPE_LPM_TRIE); __uint(max_entries, 256); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, struct key4); __type(value, __u64); } trie SEC(".maps");
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 4);
               __type(key, __u32); __type(value, __u64); } inner_a SEC(".maps"), inner_b SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 4); __type(key, __u32);
         __array(values, struct inner); } outer SEC(".maps") = { .values = { [0] = &inner_a, [1] = &inner_b } };

static long add(void *map, __u32 *key, __u64 *val, __u64 *sum)
{
	*sum += *val + *key;
	return 0;
}

#define LOOP(body) for (int i = 0; i < CALLS; i++) { body; }

SEC("xdp") int printk(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data;
	LOOP(if (WITH) n += bpf_printk("len %d at %u: %x", n, i, n); else n += n >> 3)
	return n & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int vprintk(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data;
	LOOP(if (WITH) n += bpf_printk("len %d at %u: %x %llu %d", n, i, n, n + i, i); else n += n >> 3)
	return n & 1 ? XDP_PASS : XDP_DROP;
}

/* the same format, but in a map value (written each packet): parsed at run time */
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1); __type(key, __u32); __type(value, char[32]); }
	fmt_table SEC(".maps");

SEC("xdp") int printk_runtime(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data;
	__u32 zero = 0;
	char *fmt = bpf_map_lookup_elem(&fmt_table, &zero);

	if (!fmt)
		return XDP_ABORTED;
	__builtin_memcpy(fmt, "len %d at %u: %x", 17);
	LOOP(if (WITH) n += bpf_trace_printk(fmt, 32, n, i, n); else n += n >> 3)
	return n & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int for_each(struct xdp_md *ctx)
{
	__u64 sum = ctx->data_end - ctx->data;
	LOOP(if (WITH) sum += bpf_for_each_map_elem(&arr, add, &sum, 0); else sum += sum >> 3)
	return sum & 1 ? XDP_PASS : XDP_DROP;
}

#define PREFIX(i) k.plen = (i) & 1 ? 24 : 32; k.addr = 0x0a000000 | ((i) * 2654435761u & 0x1f00) | (i)

/* 32 prefixes (/24 and /32), each updated in place after the first packet */
SEC("xdp") int lpm_update(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data, v = 1;
	struct key4 k;
	LOOP(PREFIX(i); if (WITH) n += bpf_map_update_elem(&trie, &k, &v, 0); else n += n >> 3)
	return n & 1 ? XDP_PASS : XDP_DROP;
}

/* the same prefixes inserted into an empty trie and deleted again, one after the other */
SEC("xdp") int lpm_insert_delete(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data, v = 1;
	struct key4 k;
	LOOP(PREFIX(i); if (WITH) { n += bpf_map_update_elem(&trie, &k, &v, 0); n += bpf_map_delete_elem(&trie, &k); }
	     else n += n >> 3)
	return n & 1 ? XDP_PASS : XDP_DROP;
}

/* the same prefixes stored (in place after the first packet), then /32 lookups matching them */
SEC("xdp") int lpm_lookup(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data, v = 1;
	struct key4 k;
	LOOP(PREFIX(i); n += bpf_map_update_elem(&trie, &k, &v, 0))
	LOOP(PREFIX(i); k.plen = 32; if (WITH) n += (bpf_map_lookup_elem(&trie, &k) != 0); else n += n >> 3)
	return n & 1 ? XDP_PASS : XDP_DROP;
}

SEC("xdp") int outer_lookup(struct xdp_md *ctx)
{
	__u64 n = ctx->data_end - ctx->data;
	LOOP(__u32 key = i & 3; if (WITH) n += (bpf_map_lookup_elem(&outer, &key) != 0); else n += n >> 3)
	return n & 1 ? XDP_PASS : XDP_DROP;
}

char _license[] SEC("license") = "GPL";
"""
# row: (the helpers taken out for the Python path, program, how many elements one call walks, what one call is)
HELPERS = {"trace_printk": (("trace_printk",), "printk", 1, "a call with 3 conversions"),
           "trace_printk runtime": (("trace_printk",), "printk_runtime", 1, "the same, its format in a map"),
           "trace_vprintk": (("trace_vprintk",), "vprintk", 1, "bpf_printk with 5 conversions"),
           "for_each_map_elem": (("for_each_map_elem",), "for_each", 64, "a 64-element array walk"),
           "lpm_trie lookup": (("map_lookup_elem",), "lpm_lookup", 1, "a /32 lookup (32 stored, 2 lengths)"),
           "lpm_trie update": (("map_update_elem",), "lpm_update", 1, "an update of a stored /24 or /32"),
           "lpm_trie insert+delete": (("map_update_elem", "map_delete_elem"), "lpm_insert_delete", 1,
                                      "an insert and its delete"),
           "array_of_maps lookup": (("map_lookup_elem",), "outer_lookup", 1, "an outer lookup (inner handle)")}


def build(tmp: Path, with_call: bool):
    from xdptool import toolchain
    from xdptool.elf.loader import load_object

    source = tmp / f"natives_{int(with_call)}.c"
    source.write_text(SOURCE)
    built = toolchain.build(source, tmp / f"natives_{int(with_call)}.o",
                            defines=(f"WITH={int(with_call)}", f"CALLS={CALLS}"))
    return load_object(built.output)


def per_packet_ns(obj, program: str, python: tuple[str, ...] | None) -> tuple[float, dict]:
    from xdptool.platform.helpers import HELPER_ID
    from xdptool.runtime.jit import JitEngine, natives
    from xdptool.runtime.maps import MapStore

    original = natives.native_emitters
    if python is not None:
        def without(*args, **kw):
            table = original(*args, **kw)
            for helper in python:
                table.pop(HELPER_ID[helper], None)
            return table
        natives.native_emitters = without
    try:
        program_obj = obj.program(program)
        program_obj.__dict__.pop("_jit_cache", None)
        engine = JitEngine(program_obj, MapStore.for_object(obj))
    finally:
        natives.native_emitters = original
    count, tries = (PACKETS, TRIES) if python is None else (PYTHON_PACKETS, 2)
    packet = bytes(64)
    buffer = packet * count
    offsets = array("Q", range(0, len(buffer), len(packet)))
    lengths = array("I", [len(packet)] * count)
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        engine.run_packed(buffer, offsets, lengths)
        best = min(best, time.perf_counter() - started)
    fallbacks = engine.helper_fallbacks()
    engine.close()
    return best / count * 1e9, fallbacks


def main() -> int:
    if shutil.which("clang") is None:
        print("RESULT " + json.dumps({"skipped": "clang is not installed"}))
        return 0
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        with_call, without_call = build(Path(tmp), True), build(Path(tmp), False)
        for row, (helpers, program, elements, what) in HELPERS.items():
            base, _ = per_packet_ns(without_call, program, None)
            native, native_fb = per_packet_ns(with_call, program, None)
            python, python_fb = per_packet_ns(with_call, program, helpers)
            names = [f"bpf_{helper}" for helper in helpers]
            rows[row] = {"call": what, "native_ns": (native - base) / CALLS, "python_ns": (python - base) / CALLS,
                            "native_fallbacks": sum(native_fb.get(n, 0) for n in names),
                            "python_fallbacks": sum(python_fb.get(n, 0) for n in names),
                            "per_element_native_ns": (native - base) / CALLS / elements}
    print(f"{'helper':<22} {'one call':<34} {'native ns':>10} {'python ns':>10} {'speed-up':>9}")
    for helper, row in rows.items():
        print(f"{helper:<22} {row['call']:<34} {row['native_ns']:>10.0f} {row['python_ns']:>10.0f} "
              f"{row['python_ns'] / row['native_ns']:>8.0f}x")
    print("RESULT " + json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
