"""bpf_check_mtu as native code: runtime/helpers.py check_mtu over the configured devices.

The devices are helpers.mtu_records(config): (ifindex, MTU) word pairs the engine keeps
(env.mtu_devices, env.mtu_device_count), scanned for the device the call names (0: the receiving
one, the context's ingress_ifindex); the receiving device not listed has env.mtu_ingress.  The
same checks, answer and write to *mtu_len as the Python helper's, in the same order.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...platform.ctx import BY_NAME, FIELD_SIZE
from ..config import ETH_HLEN
from ..helpers import BPF_MTU_CHK_RET_FRAG_NEEDED, BPF_MTU_CHK_RET_SUCCESS
from .env import ENV
from .irtypes import I32, I64, I64P, c64, join

if TYPE_CHECKING:
    from .translate import Translator

INGRESS_SLOT = BY_NAME["ingress_ifindex"].offset // FIELD_SIZE  # its word in env.ctx_values
M32 = 0xFFFFFFFF


def _device_mtu(t: "Translator", b: ir.IRBuilder, insn, ifindex) -> tuple[ir.Value, ir.Value]:
    """(found, MTU) of the device `ifindex` names (helpers.device_mtu)."""
    fn = b.function
    env = t.env
    ingress = ENV.load(b, env, "ctx_values", INGRESS_SLOT)
    wanted = b.select(b.icmp_unsigned("==", ifindex, c64(0)), ingress, ifindex)
    table = b.inttoptr(ENV.load(b, env, "mtu_devices"), I64P)
    count = ENV.load(b, env, "mtu_device_count")
    head = fn.append_basic_block(f"pc{insn.pc}.mtu.device")
    test = fn.append_basic_block(f"pc{insn.pc}.mtu.test")
    listed = fn.append_basic_block(f"pc{insn.pc}.mtu.listed")
    unlisted = fn.append_basic_block(f"pc{insn.pc}.mtu.unlisted")
    done = fn.append_basic_block(f"pc{insn.pc}.mtu.found")
    entry = b.block
    b.branch(head)
    b.position_at_end(head)
    n = b.phi(I64)
    n.add_incoming(c64(0), entry)
    b.cbranch(b.icmp_unsigned("<", n, count), test, unlisted)
    b.position_at_end(test)
    pair = b.gep(table, [b.shl(n, c64(1))])
    n.add_incoming(b.add(n, c64(1)), test)
    b.cbranch(b.icmp_unsigned("==", b.load(pair), wanted), listed, head)
    b.position_at_end(listed)
    mtu = b.load(b.gep(pair, [c64(1)]))
    b.branch(done)
    b.position_at_end(unlisted)
    is_ingress = b.icmp_unsigned("==", wanted, ingress)
    ingress_mtu = ENV.load(b, env, "mtu_ingress")
    b.branch(done)
    b.position_at_end(done)
    found = join(b, done, [(ir.Constant(ir.IntType(1), 1), listed), (is_ingress, unlisted)], ir.IntType(1))
    return found, join(b, done, [(mtu, listed), (ingress_mtu, unlisted)], I64)


def check_mtu(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    fn = b.function
    ifindex, mtu_len, len_diff, flags = b.and_(args[1], c64(M32)), args[2], args[3], args[4]
    done = fn.append_basic_block(f"pc{insn.pc}.mtu.done")
    lookup = fn.append_basic_block(f"pc{insn.pc}.mtu.lookup")
    incoming: list = [(c64(-errno.EINVAL), b.block)]
    b.cbranch(b.icmp_unsigned("!=", flags, c64(0)), done, lookup)
    b.position_at_end(lookup)
    found, mtu = _device_mtu(t, b, insn, ifindex)
    check = fn.append_basic_block(f"pc{insn.pc}.mtu.check")
    incoming.append((c64(-errno.ENODEV), b.block))
    b.cbranch(found, check, done)
    b.position_at_end(check)
    given_ptr = b.bitcast(t.memory.access(t, b, insn, mtu_len, 4, write=False, helper=True), I32.as_pointer())
    given = b.load(given_ptr, align=1)
    frame_length = b.trunc(b.sub(ENV.load(b, t.env, "pkt_end"), ENV.load(b, t.env, "pkt_data")), I32)
    length = b.select(b.icmp_unsigned("!=", given, ir.Constant(I32, 0)), b.add(given, ir.Constant(I32, ETH_HLEN)),
                      frame_length)
    length = b.add(length, b.trunc(len_diff, I32))  # int arithmetic, wrapping as the kernel's
    fits = b.icmp_signed("<=", b.sext(length, I64), b.add(mtu, c64(ETH_HLEN)))
    out = b.bitcast(t.memory.access(t, b, insn, mtu_len, 4, write=True, helper=True), I32.as_pointer())
    b.store(b.trunc(mtu, I32), out, align=1)
    incoming.append((b.select(fits, c64(BPF_MTU_CHK_RET_SUCCESS), c64(BPF_MTU_CHK_RET_FRAG_NEEDED)), b.block))
    b.branch(done)
    return join(b, done, incoming)
