"""Linked scalars: copies of one value (the same id), and copies plus a constant.

Facts from Linux 6.12/6.18 kernel/bpf/verifier.c.  `r1 = r2` gives both registers one id
(assign_scalar_id_before_mov); a branch that teaches one of them bounds teaches the
others (sync_linked_regs).  Since Linux 6.11 a 64-bit `r1 += K` (0 <= K <= S32_MAX,
privileged) keeps r1 linked with the delta: its id gets BPF_ADD_CONST and its `off`
holds K (adjust_reg_min_max_vals), so that what compilers emit for `i + 1` next to a
loop bound on `i` is bounded too; a second addition, or a copy of such a register,
ends the link (clear_scalar_id).  A scalar's `off` means nothing without that flag.
"""

from __future__ import annotations

from .codes import OP_ADD
from .scalar import S32_MAX, scalar_alu
from .state import T_SCALAR, Reg, State

ADD_CONST = 1 << 31  # BPF_ADD_CONST: the id's flag of a register linked with a delta
_BASE = ~ADD_CONST


def base_id(reg_id: int) -> int:
    return reg_id & _BASE


def link_after_alu(result: Reg, dst: Reg, op: int, src: Reg, is64: bool, same_reg: bool, capable: bool) -> None:
    """The id (and delta) of `result` = dst <op> src (adjust_reg_min_max_vals, after the bounds)."""
    if capable and op == OP_ADD and is64 and dst.id and not same_reg and not src.var_off.mask:
        value = src.var_off.value
        if not (dst.id & ADD_CONST or value > S32_MAX):
            result.id = dst.id | ADD_CONST
            result.off = value
            return
    result.id = 0
    result.off = 0


def before_mov(reg: Reg, new_id) -> Reg:
    """assign_scalar_id_before_mov: the source of a copy as it must be stored first (the same
    register when nothing changes): a register linked with a delta loses the link, and an
    unknown scalar without an id gets one (`new_id()`), which the copy will share."""
    if reg.type is not T_SCALAR:
        return reg
    changed = reg
    if reg.id & ADD_CONST:
        changed = reg.copy()
        changed.id = changed.off = 0
    if not changed.id and changed.var_off.mask:
        if changed is reg:
            changed = reg.copy()
        changed.id = new_id()
    return changed


def sync_linked(state: State, regno: int) -> bool:
    """sync_linked_regs: the scalars linked with register `regno` (its id, with or without the
    delta flag) learn what a branch taught it, shifted by their deltas; True when there were such."""
    reg = state.regs[regno]
    if reg.type is not T_SCALAR or not reg.id:
        return False
    known_delta = reg.off if reg.id & ADD_CONST else 0
    learnt = False

    def change(other: Reg) -> Reg | None:
        nonlocal learnt
        if other is reg or other.type is not T_SCALAR:
            return None
        new = other.copy()
        new.copy_bounds_from(reg)
        delta = (other.off if other.id & ADD_CONST else 0) - known_delta
        if delta:  # reg = known_reg; reg += delta (32-bit deltas: both fit in [0, S32_MAX])
            scalar_alu(new, OP_ADD, Reg.shared_const(delta), True)
        learnt = True
        return new

    base = base_id(reg.id)
    state.replace_regs(change, base)
    state.replace_regs(change, base | ADD_CONST)
    return learnt


def ids_safe(old: Reg, cur: Reg, ids) -> bool:
    """regsafe's id rules for scalars: an old register with no id relied on no link; one
    linked with a delta matches only a current one linked with the same delta (its base id
    mapped too), and a plain link only a plain one (check_scalar_ids)."""
    old_id, cur_id = old.id, cur.id
    if not old_id:
        return True
    if old_id & ADD_CONST:
        if not cur_id & ADD_CONST or old.off != cur.off:
            return False
        return ids.check_scalar(old_id, cur_id) and ids.check_scalar(base_id(old_id), base_id(cur_id))
    if cur_id & ADD_CONST:
        return False
    return ids.check_scalar(old_id, cur_id)
