"""Open-coded iterators (bpf_iter_<type>_new/next/destroy) as the kernel's verifier tracks them.

Facts from Linux 6.12/6.18 kernel/bpf/verifier.c.  An iterator is a struct on the stack
(struct bpf_iter_num: 8 bytes, bpf_iter_bits: 16; platform/kfuncs.py gives each its size)
whose slots are STACK_ITER ('i' in StackSlot.kinds).  Each slot's `spilled` register is a
stack pointer whose `btf_type` is an `IterState` (the kernel keeps iter.btf_id, state and
depth in the slot's bpf_reg_state); the first slot's `ref_obj_id` is the reference
bpf_iter_<type>_new acquired (mark_stack_slots_iter), which _destroy releases
(unmark_stack_slots_iter) and a leak at the program's exit reports.  A program may not
read those bytes; a store into the slot scrubs it (scrub_special_slot): the iterator is
gone, its reference is not.

_next forks (process_iter_next_call): the current path gets NULL and the iterator
DRAINED, the queued one a non-NULL rdonly_mem element, the iterator still ACTIVE and one
iteration deeper, its imprecise scalars widened against the previous iteration's
checkpoint (widen_imprecise_scalars).  The _next call is a forced checkpoint; a state
reaching it within the ranges of one still being explored, with its iterator ACTIVE,
ends there (is_state_visited: the iterator returns NULL eventually, so the loop
converges), and the depth keeps iterations apart when looking for infinite loops
(iter_active_depths_differ); pruning ignores it (stacksafe).
"""

from __future__ import annotations

from ..platform.kfuncs import KF, Kfunc, P, param_struct
from . import pruning
from .result import Reject
from .state import NOT_INIT, SLOT, Reg, RegType, State, stack_obj_spi

KIND = "i"  # STACK_ITER
ACTIVE, DRAINED = "active", "drained"  # enum bpf_iter_state, as iter_state_str names them
FLAGS = KF.ITER_NEW | KF.ITER_NEXT | KF.ITER_DESTROY
_PREFIX = "bpf_iter_"  # ITER_PREFIX: struct bpf_iter_<type>
T_STACK, T_SCALAR, T_RDONLY_MEM = RegType.STACK, RegType.SCALAR, RegType.RDONLY_MEM


class IterState:
    """An iterator slot's type, state and depth; one object per value (`of`), so that
    registers holding it compare by identity (Reg.key)."""

    __slots__ = ("type", "state", "depth")
    _made: dict = {}

    def __init__(self, type: str, state: str, depth: int):
        self.type, self.state, self.depth = type, state, depth

    @classmethod
    def of(cls, type: str, state: str, depth: int) -> "IterState":
        key = (type, state, depth)
        made = cls._made.get(key)
        if made is None:
            made = cls._made[key] = cls(type, state, depth)
        return made


def is_iter_kfunc(kfunc: Kfunc) -> bool:
    return bool(kfunc.flags & FLAGS)


def _type_of(param) -> str:
    """iter_type_str: "num" for struct bpf_iter_num."""
    return param_struct(param)[len(_PREFIX):]


# -- the stack ------------------------------------------------------------------------------
def scrub(ck, frame, spi: int) -> None:
    """scrub_special_slot: a store into an iterator's slot leaves misc bytes (its reference stays)."""
    slot = frame.slot(spi)
    slot.kinds = ["m" if k != "?" else k for k in slot.kinds]
    slot.spilled = None
    ck.scratched_slots.add(spi)


def _slots(frame, spi: int, nr_slots: int):
    return [frame.stack.get(spi - k) for k in range(nr_slots)]


def _valid_uninit(frame, spi: int | None, nr_slots: int) -> bool:
    """is_iter_reg_valid_uninit: no byte of the slots is an iterator's."""
    return spi is None or not any(slot is not None and KIND in slot.kinds for slot in _slots(frame, spi, nr_slots))


def _valid_init(frame, spi: int, nr_slots: int, itype: str) -> bool:
    """is_iter_reg_valid_init: every slot an iterator's of this type, the reference on the first."""
    for k, slot in enumerate(_slots(frame, spi, nr_slots)):
        if slot is None or slot.kinds != [KIND] * SLOT or slot.spilled is None:
            return False
        reg = slot.spilled
        if bool(reg.ref_obj_id) != (k == 0) or not isinstance(reg.btf_type, IterState) or reg.btf_type.type != itype:
            return False
    return True


def _process_arg(ck, kfunc: Kfunc, regno: int, reg: Reg):
    """process_iter_arg: (frame, first slot) of an initialised iterator, after _new marked one."""
    param = kfunc.params[regno - 1]
    itype, nr_slots = _type_of(param), param.size // SLOT
    if reg.type is not T_STACK:
        raise Reject(f"arg#{regno - 1} expected pointer to an iterator on stack")
    frame = ck.state.frames[reg.frameno]
    spi, error = stack_obj_spi(reg, "iter", nr_slots)
    prefix = f"{error}\n" if error else ""
    if kfunc.flags & KF.ITER_NEW:
        if (spi is None and error) or not _valid_uninit(frame, spi, nr_slots):
            raise Reject(f"{prefix}expected uninitialized iter_{itype} as arg #{regno - 1}")
        for off in range(0, nr_slots * SLOT, SLOT):  # BPF_DW writes, as check_mem_access checks them
            ck.mem_access(regno, reg, off, SLOT, write=True, value=Reg.shared_unknown())
        spi, _ = stack_obj_spi(reg, "iter", nr_slots)
        ref = ck._acquire_reference(ck.pc)
        for k in range(nr_slots):  # mark_stack_slots_iter
            slot = frame.slot(spi - k)
            slot.kinds = [KIND] * SLOT
            slot.spilled = Reg.pointer(T_STACK, ref_obj_id=ref if k == 0 else 0,
                                       btf_type=IterState.of(itype, ACTIVE, 0))
            ck.scratched_slots.add(spi - k)
        return frame, spi
    if spi is None or not _valid_init(frame, spi, nr_slots, itype):
        raise Reject(f"{prefix}expected an initialized iter_{itype} as arg #{regno - 1}")
    lo = -(spi + 1) * SLOT
    ck._read_slots(frame, lo, lo + nr_slots * SLOT)  # mark_iter_read
    if kfunc.flags & KF.ITER_DESTROY:  # unmark_stack_slots_iter
        ref = frame.stack[spi].spilled.ref_obj_id
        for k in range(nr_slots):
            slot = frame.slot(spi - k)
            slot.kinds = ["?"] * SLOT
            slot.spilled = None
            ck.scratched_slots.add(spi - k)
        ck._release_reference(ref, f"kfunc {kfunc.name}")
    return frame, spi


# -- the calls ------------------------------------------------------------------------------
def kfunc_call(ck, insn, kfunc: Kfunc) -> int:
    """check_kfunc_args and check_kfunc_call for bpf_iter_<type>_new/next/destroy."""
    regs = ck.state.regs
    it = None
    for i, param in enumerate(kfunc.params):
        regno = i + 1
        reg = regs[regno]
        ck.scratched.add(regno)
        if param.kind is P.IGNORED:
            continue
        if param.kind is P.SCALAR:
            if reg.type is not T_SCALAR:
                raise Reject(f"R{regno} is not a scalar")
            continue
        ck._check_arg_reg_off(regno, reg)
        it = _process_arg(ck, kfunc, regno, reg)
    regs = ck.state.regs
    for r in range(1, 6):
        regs[r] = NOT_INIT
    ck.scratched.add(0)
    if kfunc.flags & KF.ITER_NEXT:
        _next(ck, insn.pc, kfunc, *it)
    else:
        regs[0] = Reg.shared_unknown() if kfunc.returns_scalar else NOT_INIT
    return insn.pc + 1


def _next(ck, pc: int, kfunc: Kfunc, frame, spi: int) -> None:
    """The element kfunc returns (rdonly memory, tied to the iterator's reference) and
    process_iter_next_call's fork."""
    ref = frame.stack[spi].spilled.ref_obj_id
    element = Reg.pointer(T_RDONLY_MEM, id=ck.new_id(), ref_obj_id=ref, mem_size=kfunc.ret_size)
    frameno = frame.frameno
    now: IterState = frame.stack[spi].spilled.btf_type
    if now.state == ACTIVE:
        queued: State = ck.state.copy()
        _set(queued.frames[frameno], spi, IterState.of(now.type, ACTIVE, now.depth + 1))
        queued.regs[0] = element
        entry = ck._prev_entry(pc, len(queued.frames), skip_head=True)
        if entry is not None:
            ck._widen(entry.state, queued, pc + 1, entry=entry)
        ck.push(queued, pc + 1, pc)
    _set(ck.state.frames[frameno], spi, IterState.of(now.type, DRAINED, now.depth))
    ck.state.regs[0] = Reg.shared_const(0)


def _set(frame, spi: int, value: IterState) -> None:
    slot = frame.slot(spi)
    reg = slot.spilled.copy()
    reg.btf_type = value
    slot.spilled = reg


# -- pruning --------------------------------------------------------------------------------
def converged(ck, active: dict, state: State, live: int) -> bool:
    """is_state_visited at an iterator's _next call: the current state is within the ranges
    of a checkpoint here still being explored, and the iterator it advances (R1's) is
    ACTIVE: the path ends (the loop converges)."""
    r1 = state.regs[1]
    if r1.type is not T_STACK or r1.var_off.mask:
        return False
    value = r1.var_off.value
    off = r1.off + (value - (1 << 64) if value >> 63 else value)
    slot = state.frames[r1.frameno].stack.get((-off - 1) // SLOT) if off < 0 and not off % SLOT else None
    if slot is None or slot.kinds[SLOT - 1] != KIND or slot.spilled.btf_type.state != ACTIVE:
        return False
    allow_uninit = ck.profile.allow_uninit_stack
    every, depth, regs = pruning.ALL_PRECISE, len(state.frames), state.frames[-1].regs
    for entry in active.values():  # where the last comparison failed is tried first (the counter, mostly)
        if entry.open_hint is not None:
            hint, quick = entry.open_hint
            if quick is not None:
                if pruning.hinted_miss(quick, depth, regs[quick[1]]):
                    continue
            elif pruning.quick_miss(entry.state, state, hint, live, allow_uninit, every):
                continue
        hint = pruning.first_difference(entry.state, state, live, allow_uninit)
        if hint is None:
            ck._pruned_by(entry)
            ck._end_path()
            return True
        entry.open_hint = hint, pruning.quick_hint(entry.state, hint)
    return False


def slot_safe(old: Reg, cur: Reg, ids) -> bool:
    """stacksafe's STACK_ITER case: the same iterator type and state, the reference mapped
    (the depth is left out: it would keep iterations from converging)."""
    o, c = old.btf_type, cur.btf_type
    return (isinstance(c, IterState) and o.type == c.type and o.state == c.state
            and ids.check(old.ref_obj_id, cur.ref_obj_id))
