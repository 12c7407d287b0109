"""Kfuncs the engines run, by name (platform/kfuncs.py declares them): the dynptr ones and
the number iterator.

Behaviour from Linux 6.18 net/core/filter.c (bpf_dynptr_from_xdp) and kernel/bpf/helpers.c
(bpf_dynptr_slice, _adjust, _size, _is_null, _is_rdonly, _clone); kernel/bpf/bpf_iter.c
(bpf_iter_num_new, _next, _destroy).  The engines' frames are
linear, so a slice of an XDP dynptr is a pointer into the packet (bpf_xdp_pointer); the
buffer argument is used only when the span is not in the packet as it is now (the kernel
then copies what there is of it: bpf_xdp_copy_buf).

A kfunc implementation has a helper's signature (runtime/helpers.py).  The interpreter
calls it by the symbol of the call's relocation; the jit through its Python callback,
under an id of its own (KFUNC_ID_BASE + the kfunc's index in IMPLS).
"""

from __future__ import annotations

import errno
import struct

from ..ebpf.semantics import BPF_MAX_LOOPS
from ..errors import XdpError
from .helpers import (
    DYNPTR_XDP, U64, Dynptr, HelperSpec, _frame_to_buffer, dynptr_check_off_len, dynptr_load, dynptr_store, neg, s32,
)


def bpf_dynptr_from_xdp(env, ctx, flags, ptr, *_):
    if flags:
        dynptr_store(env, ptr, None)
        return neg(errno.EINVAL)
    dynptr_store(env, ptr, Dynptr(ctx, env.xdp.length, DYNPTR_XDP, False, 0))
    return 0


def bpf_dynptr_slice(env, ptr, offset, buffer, size, *_):
    d = dynptr_load(env, ptr)
    offset, size = offset & 0xFFFFFFFF, size & 0xFFFFFFFF
    if not d.data or dynptr_check_off_len(d, offset, size):
        return 0
    if d.type != DYNPTR_XDP:
        return (d.data + d.offset + offset) & U64
    xdp = env.xdp
    start = d.offset + offset
    if not xdp.check_span(start, size):
        return env.packet_region.base + xdp.data + start
    if not buffer:
        return 0
    available = max(0, min(size, xdp.length - start))  # bpf_xdp_copy_buf: what the frame has of it
    _frame_to_buffer(env, xdp.data + start, buffer, available)
    return buffer


def bpf_dynptr_slice_rdwr(env, ptr, offset, buffer, size, *_):
    d = dynptr_load(env, ptr)
    if not d.data or d.rdonly:
        return 0
    return bpf_dynptr_slice(env, ptr, offset, buffer, size)


def bpf_dynptr_adjust(env, ptr, start, end, *_):
    d = dynptr_load(env, ptr)
    start, end = start & 0xFFFFFFFF, end & 0xFFFFFFFF
    if not d.data or start > end:
        return neg(errno.EINVAL)
    if start > d.size or end > d.size:
        return neg(errno.ERANGE)
    dynptr_store(env, ptr, d._replace(offset=d.offset + start, size=end - start))
    return 0


def bpf_dynptr_size(env, ptr, *_):
    d = dynptr_load(env, ptr)
    return d.size if d.data else -errno.EINVAL & 0xFFFFFFFF  # (a u32)


def bpf_dynptr_is_null(env, ptr, *_):
    return int(not dynptr_load(env, ptr).data)


def bpf_dynptr_is_rdonly(env, ptr, *_):
    d = dynptr_load(env, ptr)
    return int(bool(d.data) and d.rdonly)


def bpf_dynptr_clone(env, ptr, clone, *_):
    d = dynptr_load(env, ptr)
    if not d.data:
        dynptr_store(env, clone, None)
        return neg(errno.EINVAL)
    dynptr_store(env, clone, d)
    return 0


# -- the number iterator (kernel/bpf/bpf_iter.c) ----------------------------------------------
# struct bpf_iter_num_kern on the program's stack: the current value (int, inclusive) and the
# end (int, exclusive); a failed _new, the end of the range and _destroy leave both 0.
ITER_NUM = struct.Struct("<ii")


def bpf_iter_num_new(env, it, start, end, *_):
    """[start, end): -EINVAL when start > end, -E2BIG past BPF_MAX_LOOPS values (in 64 bits:
    no overflow), else cur = start - 1 (wrapping, as the kernel's int) for _next to step."""
    start, end = s32(start), s32(end)
    error = errno.EINVAL if start > end else errno.E2BIG if end - start > BPF_MAX_LOOPS else 0
    env.mem.write(it, ITER_NUM.pack(0, 0) if error else ITER_NUM.pack(s32(start - 1), end))
    return neg(error)


def bpf_iter_num_next(env, it, *_):
    """&cur after stepping it, or NULL (and both words 0) when cur + 1, an int, is not below end."""
    cur, end = ITER_NUM.unpack(env.mem.read(it, ITER_NUM.size))
    step = s32(cur + 1)
    if step >= end:
        env.mem.write(it, ITER_NUM.pack(0, 0))
        return 0
    env.mem.write(it, ITER_NUM.pack(step, end))
    return it


def bpf_iter_num_destroy(env, it, *_):
    env.mem.write(it, ITER_NUM.pack(0, 0))
    return 0


IMPLS = {f.__name__: f for f in (
    bpf_dynptr_from_xdp, bpf_dynptr_slice, bpf_dynptr_slice_rdwr, bpf_dynptr_adjust, bpf_dynptr_size,
    bpf_dynptr_is_null, bpf_dynptr_is_rdonly, bpf_dynptr_clone,
    bpf_iter_num_new, bpf_iter_num_next, bpf_iter_num_destroy,
)}
KFUNC_ID_BASE = 1 << 20  # the jit's callback ids of kfuncs (helper ids are below 2**16)
SPECS = {KFUNC_ID_BASE + i: HelperSpec(KFUNC_ID_BASE + i, name, impl) for i, (name, impl) in enumerate(IMPLS.items())}
ID_OF = {spec.name: spec_id for spec_id, spec in SPECS.items()}


def resolve_kfunc(insn) -> HelperSpec:
    """The spec of the kfunc a call instruction names, or XdpError saying it does not run."""
    name = insn.reloc.symbol if insn.reloc is not None else None
    spec_id = ID_OF.get(name)
    if spec_id is None:
        what = name or f"BTF id {insn.imm}"
        raise XdpError(f"program calls kfunc {what}, which the runtime does not implement")
    return SPECS[spec_id]
