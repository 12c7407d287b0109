"""bpf_fib_lookup as native code: the runtime helper (runtime/helpers.py fib_lookup) over the
configured routes as helpers.fib_records lays them out (longest prefix first), scanned in
order; the same checks, answers and writes to the program's struct bpf_fib_lookup."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ..helpers import (
    AF_INET, AF_INET6, BPF_FIB_LKUP_RET_FRAG_NEEDED, BPF_FIB_LKUP_RET_NOT_FWDED, BPF_FIB_LKUP_RET_SUCCESS, FIB_FLAGS,
    FIB_PARAMS_SIZE, FIB_RECORD,
)
from .env import ENV
from .irtypes import I32, I64, I8P, c64, join

if TYPE_CHECKING:
    from .translate import Translator

# struct bpf_fib_lookup (uapi/linux/bpf.h): family, tot_len/mtu_result, ifindex, the
# destination address, smac, dmac; a fib_records route: mask, prefix, ifindex, mtu, macs
FAMILY, TOT_LEN, IFINDEX, DST, SMAC, DMAC = 0, 6, 8, 32, 52, 58
ROUTE_MASK, ROUTE_PREFIX, ROUTE_IFINDEX, ROUTE_MTU, ROUTE_MACS = 8, 24, 40, 44, 46
MAC_BYTES = 6
I16 = ir.IntType(16)


def _word(b: ir.IRBuilder, base: ir.Value, offset: int, ty: ir.IntType = I64) -> ir.Value:
    value = b.load(b.bitcast(b.gep(base, [c64(offset)]), ty.as_pointer()), align=1)
    return value if ty is I64 else b.zext(value, I64)


def fib_lookup(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    fn = b.function
    env = t.env
    params, plen, flags = args[1], args[2], args[3]
    done = fn.append_basic_block(f"pc{insn.pc}.fib.done")
    checked = fn.append_basic_block(f"pc{insn.pc}.fib.checked")
    bad = b.or_(b.icmp_unsigned("<", b.and_(plen, c64(0xFFFFFFFF)), c64(FIB_PARAMS_SIZE)),
                b.icmp_unsigned("!=", b.and_(flags, c64(~FIB_FLAGS)), c64(0)))
    incoming = [(c64(-errno.EINVAL), b.block)]
    b.cbranch(bad, done, checked)
    b.position_at_end(checked)
    raw = t.memory.access(t, b, insn, params, FIB_PARAMS_SIZE, write=False, helper=True)
    family = b.zext(b.load(raw), I64)
    known = b.or_(b.icmp_unsigned("==", family, c64(AF_INET)), b.icmp_unsigned("==", family, c64(AF_INET6)))
    scan = fn.append_basic_block(f"pc{insn.pc}.fib.scan")
    incoming.append((c64(-errno.EAFNOSUPPORT), b.block))
    b.cbranch(known, scan, done)
    # the routes, longest prefix first: the first whose family and masked prefix match
    b.position_at_end(scan)
    dst = (_word(b, raw, DST), _word(b, raw, DST + 8))
    routes = b.inttoptr(ENV.load(b, env, "fib_routes"), I8P)
    count = ENV.load(b, env, "fib_count")
    head = fn.append_basic_block(f"pc{insn.pc}.fib.route")
    test = fn.append_basic_block(f"pc{insn.pc}.fib.test")
    found = fn.append_basic_block(f"pc{insn.pc}.fib.found")
    entry = b.block
    b.branch(head)
    b.position_at_end(head)
    n = b.phi(I64)
    n.add_incoming(c64(0), entry)
    incoming.append((c64(BPF_FIB_LKUP_RET_NOT_FWDED), head))
    b.cbranch(b.icmp_unsigned("<", n, count), test, done)
    b.position_at_end(test)
    route = b.gep(routes, [b.mul(n, c64(FIB_RECORD))])
    match = b.icmp_unsigned("==", b.zext(b.load(route), I64), family)
    for half in (0, 8):
        masked = b.and_(dst[half // 8], _word(b, route, ROUTE_MASK + half))
        match = b.and_(match, b.icmp_unsigned("==", masked, _word(b, route, ROUTE_PREFIX + half)))
    n.add_incoming(b.add(n, c64(1)), test)
    b.cbranch(match, found, head)
    # the answer, written back (the whole struct is checked writable, as the helper writes it)
    b.position_at_end(found)
    out = t.memory.access(t, b, insn, params, FIB_PARAMS_SIZE, write=True, helper=True)
    mtu = _word(b, route, ROUTE_MTU, I16)
    too_long = b.icmp_unsigned(">", _word(b, out, TOT_LEN, I16), mtu)
    with b.if_else(too_long) as (frag, forward):
        with frag:
            b.store(b.trunc(mtu, I16), b.bitcast(b.gep(out, [c64(TOT_LEN)]), I16.as_pointer()), align=1)
        with forward:
            b.store(b.trunc(_word(b, route, ROUTE_IFINDEX, I32), I32),
                    b.bitcast(b.gep(out, [c64(IFINDEX)]), I32.as_pointer()), align=1)
            for k in range(2 * MAC_BYTES):  # smac then dmac, side by side in both
                byte = b.load(b.gep(route, [c64(ROUTE_MACS + k)]))
                b.store(byte, b.gep(out, [c64(SMAC + k)]))
    answer = b.select(too_long, c64(BPF_FIB_LKUP_RET_FRAG_NEEDED), c64(BPF_FIB_LKUP_RET_SUCCESS))
    incoming.append((answer, b.block))
    b.branch(done)
    return join(b, done, incoming)

