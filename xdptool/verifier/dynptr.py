"""Dynamic pointers (struct bpf_dynptr) as the kernel's verifier tracks them.

Facts from Linux 6.12/6.18 kernel/bpf/verifier.c.  A dynptr lives in two stack slots
(BPF_DYNPTR_NR_SLOTS) whose bytes are STACK_DYNPTR ('d' in StackSlot.kinds); each slot's
`spilled` register is a dynptr_ptr (CONST_PTR_TO_DYNPTR) whose `dynptr` field says the
dynptr's type and which slot is the first (__mark_dynptr_reg), whose `id` is the dynptr's
(slices carry it as their dynptr id) and whose `ref_obj_id` the reference of a ring buffer
dynptr (its clones share it).  A program may not read those bytes; a store into one
destroys the dynptr (destroy_if_dynptr_stack_slot), unless it holds a reference.

Calls name a dynptr by a stack pointer, or by a dynptr_ptr register (a user ring buffer
callback's record, a global function's dynptr argument: read-only views of a LOCAL
dynptr).  process_dynptr_func checks each such argument; bpf_dynptr_slice(_rdwr) return
memory of a constant size (rdonly_mem for slice) tagged with the dynptr, which the
packet-changing helpers invalidate when the dynptr is an XDP one (clear_all_pkt_pointers).
"""


import enum
from typing import NamedTuple

from ..platform.helpers import Arg, Helper, Ret
from ..platform.kfuncs import REFUSED_AFTER_ARGS_FOR_XDP, Kfunc, P
from .result import Reject
from .state import NOT_INIT, SLOT, Reg, RegType, stack_obj_spi

T_STACK, T_DYNPTR, T_SCALAR, T_CTX = RegType.STACK, RegType.DYNPTR, RegType.SCALAR, RegType.CTX
T_MEM, T_MEM_OR_NULL = RegType.MEM, RegType.MEM_OR_NULL
T_RDONLY_MEM, T_RDONLY_MEM_OR_NULL = RegType.RDONLY_MEM, RegType.RDONLY_MEM_OR_NULL
KIND = "d"  # STACK_DYNPTR
NR_SLOTS = 2  # BPF_DYNPTR_NR_SLOTS


class DynptrType(enum.Enum):
    """enum bpf_dynptr_type, named as dynptr_type_str names them."""

    LOCAL = "local"
    RINGBUF = "ringbuf"
    SKB = "skb"
    XDP = "xdp"


REFCOUNTED = frozenset({DynptrType.RINGBUF})  # dynptr_type_refcounted
PACKET = frozenset({DynptrType.SKB, DynptrType.XDP})  # reg_is_dynptr_slice_pkt: slices into packet data
SLICE_TYPES = frozenset({T_MEM, T_MEM_OR_NULL, T_RDONLY_MEM, T_RDONLY_MEM_OR_NULL})
# what destroy_if_dynptr_stack_slot invalidates: PTR_TO_MEM (| PTR_MAYBE_NULL) exactly, i.e.
# bpf_dynptr_data's results (a kfunc slice's type also carries its DYNPTR_TYPE_* flag)
_DATA_TYPES = frozenset({T_MEM, T_MEM_OR_NULL})


class DynptrArg(NamedTuple):
    """An ARG_PTR_TO_DYNPTR and its flags."""

    type: DynptrType | None = None  # DYNPTR_TYPE_*: the dynptr made, or the one expected (None: any)
    uninit: bool = False  # MEM_UNINIT: the call makes a dynptr in these slots
    rdonly: bool = False  # MEM_RDONLY: const struct bpf_dynptr *, neither changed nor destroyed
    release: bool = False  # OBJ_RELEASE: the call releases the dynptr's reference


# the helpers' dynptr arguments (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c prototypes)
HELPER_ARGS = {
    Arg.DYNPTR: DynptrArg(rdonly=True),
    Arg.DYNPTR_LOCAL_UNINIT: DynptrArg(DynptrType.LOCAL, uninit=True),
    Arg.DYNPTR_RINGBUF_UNINIT: DynptrArg(DynptrType.RINGBUF, uninit=True),
    Arg.DYNPTR_RINGBUF_RELEASE: DynptrArg(DynptrType.RINGBUF, release=True),
}
# the kfuncs whose uninitialised dynptr argument is made of a given type (check_kfunc_args)
_KFUNC_MAKES = {"bpf_dynptr_from_xdp": DynptrType.XDP, "bpf_dynptr_from_skb": DynptrType.SKB}
_SLICES = {"bpf_dynptr_slice": T_RDONLY_MEM_OR_NULL, "bpf_dynptr_slice_rdwr": T_MEM_OR_NULL}
_KFUNC_KINDS = frozenset({P.DYNPTR, P.DYNPTR_UNINIT})


def is_dynptr_kfunc(kfunc: Kfunc) -> bool:
    return any(p.kind in _KFUNC_KINDS for p in kfunc.params)


def is_pkt_slice(reg: Reg) -> bool:
    """reg_is_dynptr_slice_pkt: memory a skb or xdp dynptr's slice points to."""
    d = reg.dynptr
    return d is not None and reg.type in SLICE_TYPES and d[0] in PACKET


def dynptr_reg(dtype: DynptrType, first: bool, dynptr_id: int, ref_obj_id: int = 0) -> Reg:
    """__mark_dynptr_reg: what a dynptr's slot holds, or a dynptr_ptr argument."""
    return Reg.pointer(T_DYNPTR, id=dynptr_id, ref_obj_id=ref_obj_id, dynptr=(dtype, first, 0))


def _slot_offset(spi: int) -> int:
    return -(spi + 1) * SLOT


# -- the stack ------------------------------------------------------------------------------
def _get_spi(ck, reg: Reg) -> tuple[int | None, str]:
    """stack_slot_obj_get_spi: (spi, "") or (None, the kernel's message: "" for -ERANGE)."""
    return stack_obj_spi(reg, "dynptr", NR_SLOTS)


def _first_slot(frame, spi: int):
    """The first slot's register of the dynptr at `spi` (either of its slots), or None."""
    slot = frame.stack.get(spi)
    if slot is None or slot.kinds[0] != KIND:
        return None, spi
    if not slot.spilled.dynptr[1]:
        spi += 1
        slot = frame.stack[spi]
    return slot.spilled, spi


def _clear(ck, frame, spi: int) -> None:
    """Both slots of the dynptr whose first slot is `spi` become STACK_INVALID."""
    for s in (spi, spi - 1):
        slot = frame.slot(s)
        slot.kinds = ["?"] * SLOT
        slot.spilled = None
        ck.scratched_slots.add(s)


def destroy_slot(ck, frame, spi: int) -> None:
    """destroy_if_dynptr_stack_slot: a store into either slot of a dynptr destroys it (and
    invalidates bpf_dynptr_data's pointers into it); a referenced one may not be overwritten."""
    reg, spi = _first_slot(frame, spi)
    if reg is None:
        return
    if reg.dynptr[0] in REFCOUNTED:
        raise Reject("cannot overwrite referenced dynptr")
    _clear(ck, frame, spi)
    dynptr_id = reg.id
    invalid = Reg.shared_unknown() if ck.profile.allow_ptr_leaks else NOT_INIT
    ck.state.replace_regs(lambda r: invalid if r.type in _DATA_TYPES and r.dynptr is not None
                          and r.dynptr[2] == dynptr_id else None)


def check_helper_write(frame, lo: int, hi: int) -> None:
    """check_stack_range_initialized in raw mode: a helper may not write over a dynptr."""
    for byte in range(lo, hi):
        if frame.byte_kind(byte) == KIND:
            raise Reject(f"potential write to dynptr at off={byte} disallowed")


# -- process_dynptr_func -----------------------------------------------------------------------
def process(ck, regno: int, reg: Reg, arg: DynptrArg, clone_ref_obj_id: int = 0) -> None:
    if reg.type is not T_STACK and reg.type is not T_DYNPTR:
        raise Reject(f"arg#{regno - 1} expected pointer to stack or const struct bpf_dynptr")
    if arg.uninit:
        if reg.type is T_DYNPTR:
            raise Reject("Dynptr has to be an uninitialized dynptr")
        spi, error = _get_spi(ck, reg)
        if spi is None and error:
            raise Reject(f"{error}\nDynptr has to be an uninitialized dynptr")
        for off in range(0, NR_SLOTS * SLOT, SLOT):  # BPF_DW writes, as check_mem_access checks them
            ck.mem_access(regno, reg, off, SLOT, write=True, value=Reg.shared_unknown())
        spi, _ = _get_spi(ck, reg)
        _mark_slots(ck, ck.state.frames[reg.frameno], spi, arg.type, clone_ref_obj_id)
        return
    if reg.type is T_DYNPTR and not arg.rdonly:
        raise Reject("cannot pass pointer to const bpf_dynptr, the helper mutates it")
    got = _initialized(ck, regno, reg)
    if arg.type is not None and got.dynptr[0] is not arg.type:
        raise Reject(f"Expected a dynptr of type {arg.type.value} as arg #{regno - 1}")
    if reg.type is T_STACK:  # mark_dynptr_read
        spi, _ = _get_spi(ck, reg)
        lo = _slot_offset(spi)
        ck._read_slots(ck.state.frames[reg.frameno], lo, lo + NR_SLOTS * SLOT)


def _initialized(ck, regno: int, reg: Reg) -> Reg:
    """is_dynptr_reg_valid_init: the dynptr register (a first slot's, or the argument itself)."""
    if reg.type is T_DYNPTR:
        return reg
    spi, error = _get_spi(ck, reg)
    expected = f"Expected an initialized dynptr as arg #{regno - 1}"
    if spi is None:
        raise Reject(f"{error}\n{expected}" if error else expected)
    frame = ck.state.frames[reg.frameno]
    first, second = frame.stack.get(spi), frame.stack.get(spi - 1)
    if (first is None or second is None or first.kinds != [KIND] * SLOT or second.kinds != [KIND] * SLOT
            or not first.spilled.dynptr[1]):
        raise Reject(expected)
    return first.spilled


def _mark_slots(ck, frame, spi: int, dtype: DynptrType, clone_ref_obj_id: int) -> None:
    """mark_stack_slots_dynptr (the two writes before it destroyed what was there)."""
    destroy_slot(ck, frame, spi)
    destroy_slot(ck, frame, spi - 1)
    dynptr_id = ck.new_id()
    ref = 0
    if dtype in REFCOUNTED:
        ref = clone_ref_obj_id or ck._acquire_reference(ck.pc)
    for s, first in ((spi, True), (spi - 1, False)):
        slot = frame.slot(s)
        slot.kinds = [KIND] * SLOT
        slot.spilled = dynptr_reg(dtype, first, dynptr_id, ref)
        ck.scratched_slots.add(s)


def _unmark_slots(ck, reg: Reg) -> None:
    """unmark_stack_slots_dynptr: the dynptr and, for a referenced one, its clones and every
    pointer derived from its reference are gone."""
    frame = ck.state.frames[reg.frameno]
    spi, _ = _get_spi(ck, reg)
    dynptr = frame.stack[spi].spilled
    if dynptr.dynptr[0] not in REFCOUNTED:
        _clear(ck, frame, spi)
        return
    ref = dynptr.ref_obj_id
    for s, slot in list(frame.stack.items()):  # the clones (before release_reference sees the slots)
        spilled = slot.spilled
        if slot.kinds[0] == KIND and spilled.ref_obj_id == ref and spilled.dynptr[1]:
            _clear(ck, frame, s)
    ck._release_reference(ref, "dynptr")


def _describe(ck, reg: Reg) -> Reg:
    """The dynptr register an initialised argument names (dynptr_id, dynptr_get_type, ...)."""
    if reg.type is T_DYNPTR:
        return reg
    spi, _ = _get_spi(ck, reg)
    return ck.state.frames[reg.frameno].stack[spi].spilled


# -- helpers ------------------------------------------------------------------------------------
def check_helper_arg(ck, helper: Helper, regno: int, reg: Reg, arg: Arg, meta: dict) -> None:
    """check_func_arg for an ARG_PTR_TO_DYNPTR: register type, offset, release, then
    process_dynptr_func."""
    spec = HELPER_ARGS[arg]
    if reg.type is not T_STACK and reg.type is not T_DYNPTR:
        raise Reject(f"R{regno} type={reg.type.value} expected=fp, dynptr_ptr")
    if not (spec.release and reg.type is T_STACK):
        ck._check_arg_reg_off(regno, reg)
    if spec.release:
        if reg.type is not T_STACK:
            raise Reject("cannot release unowned const bpf_dynptr")
        spi, error = _get_spi(ck, reg)
        slot = ck.state.frames[reg.frameno].stack.get(spi) if spi is not None else None
        if slot is None or slot.spilled is None or not slot.spilled.ref_obj_id:
            raise Reject(f"{error}\narg {regno} is an unacquired reference" if error
                         else f"arg {regno} is an unacquired reference")
        meta["dynptr_release"] = regno
    process(ck, regno, reg, spec)
    meta["dynptr"] = regno


def after_helper_args(ck, helper: Helper, meta: dict) -> None:
    """check_helper_call after the arguments: the release, then the dynptr helpers' own checks."""
    regs = ck.state.regs
    release = meta.get("dynptr_release")
    if release:
        _unmark_slots(ck, regs[release])
    if helper.name == "dynptr_from_mem" and regs[1].type is not RegType.MAP_VALUE:
        raise Reject(f"Unsupported reg type {regs[1].type.value} for bpf_dynptr_from_mem data")
    if helper.ret is Ret.DYNPTR_MEM_OR_NULL:
        dynptr = _describe(ck, regs[meta["dynptr"]])
        meta["dynptr_data"] = (dynptr.id, dynptr.ref_obj_id)


def data_return(ck, meta: dict) -> Reg:
    """RET_PTR_TO_DYNPTR_MEM_OR_NULL (bpf_dynptr_data): `len` bytes, tied to the dynptr's id
    and reference."""
    dynptr_id, ref = meta["dynptr_data"]
    return Reg.pointer(T_MEM_OR_NULL, id=ck.new_id(), ref_obj_id=ref, mem_size=meta["alloc"],
                       dynptr=(None, False, dynptr_id))


# -- kfuncs -------------------------------------------------------------------------------------
def kfunc_call(ck, insn, kfunc: Kfunc) -> int:
    """check_kfunc_args and check_kfunc_call for the dynptr kfuncs."""
    name = kfunc.name
    regs = ck.state.regs
    parent = None  # meta->initialized_dynptr: the dynptr register of the initialised argument
    size = None
    params = kfunc.params
    i = 0
    while i < len(params):
        param, regno = params[i], i + 1
        reg = regs[regno]
        ck.scratched.add(regno)
        kind = param.kind
        if kind is P.SCALAR:
            if reg.type is not T_SCALAR:
                raise Reject(f"R{regno} is not a scalar")
        elif kind is P.CTX:
            ck._check_arg_reg_off(regno, reg)
            if reg.type is not T_CTX:
                raise Reject(f"arg#{i} expected pointer to ctx, but got {reg.type.value}")
        elif kind in _KFUNC_KINDS:
            ck._check_arg_reg_off(regno, reg)
            uninit = kind is P.DYNPTR_UNINIT
            dtype = _KFUNC_MAKES.get(name)
            clone_ref = 0
            if uninit and dtype is None:  # bpf_dynptr_clone: the parent's type and reference
                dtype, clone_ref = parent.dynptr[0], parent.ref_obj_id
            process(ck, regno, reg, DynptrArg(dtype if uninit else None, uninit, reg.type is T_DYNPTR),
                    clone_ref)
            if not uninit:
                parent = _describe(ck, reg)
        elif kind is P.NULLABLE_MEM:  # buffer__opt with its __szk size: KF_ARG_PTR_TO_MEM_SIZE
            size = _mem_size_pair(ck, i, regno, reg, regs[regno + 1])
            i += 1
        else:
            raise AssertionError(f"kfunc {name}: parameter kind {kind}")
        i += 1
    if name in REFUSED_AFTER_ARGS_FOR_XDP:
        raise Reject(f"{name}() is not allowed")
    for r in range(1, 6):
        regs[r] = NOT_INIT
        ck.scratched.add(r)
    ck.scratched.add(0)
    slice_type = _SLICES.get(name)
    if slice_type is not None:
        regs[0] = Reg.pointer(slice_type, id=ck.new_id(), mem_size=size, dynptr=(parent.dynptr[0], False, parent.id))
    else:
        regs[0] = Reg.shared_unknown()
    return insn.pc + 1


_HELPER_MEM_TYPES = frozenset({T_STACK, RegType.PKT, RegType.PKT_META, RegType.MAP_KEY, RegType.MAP_VALUE, T_MEM,
                               RegType.RINGBUF_MEM, T_RDONLY_MEM, RegType.TRUSTED_BTF_ID})


def _mem_size_pair(ck, i: int, regno: int, buf: Reg, size_reg: Reg) -> int:
    """A (buffer__opt, buffer__szk) pair: the buffer, unless NULL, must take `size` bytes
    read and written (check_kfunc_mem_size_reg); the size must be a known constant."""
    ck._check_arg_reg_off(regno, buf)
    ck.scratched.add(regno + 1)
    if not (buf.type is T_SCALAR and buf.is_const and buf.const_value == 0):
        try:
            _check_mem_size(ck, regno, buf, size_reg)
        except Reject as reject:
            raise Reject(f"{reject.message}\narg#{i} arg#{i + 1} memory, len pair leads to invalid memory access")
    if size_reg.type is not T_SCALAR:
        raise Reject(f"R{regno + 1} is not a scalar")
    if not size_reg.is_const:
        raise Reject(f"R{regno + 1} must be a known constant")
    return size_reg.const_value


def _check_mem_size(ck, regno: int, buf: Reg, size_reg: Reg) -> None:
    """check_mem_size_reg, for a read and then a write of the buffer."""
    size_regno = regno + 1
    if size_reg.smin < 0:
        raise Reject(f"R{size_regno} min value is negative, either use unsigned or 'var &= const'")
    if size_reg.umax >= 1 << 29:
        raise Reject(f"R{size_regno} unbounded memory access, use 'var &= const' or 'if (var < const)'")
    mem = buf
    if buf.type.maybe_null:
        mem = buf.copy()
        mem.type = {T_MEM_OR_NULL: T_MEM, T_RDONLY_MEM_OR_NULL: T_RDONLY_MEM}.get(buf.type, buf.type)
    if mem.type not in _HELPER_MEM_TYPES:
        raise Reject(f"R{regno} type={buf.type.value} expected=fp")
    for write in (False, True):
        if write and mem.type is T_RDONLY_MEM:
            raise Reject(f"R{regno} cannot write into {mem.type.value}")
        ck.helper_mem_access(regno, mem, size_reg.umax, write=write, zero_ok=True)
