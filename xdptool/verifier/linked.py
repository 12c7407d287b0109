"""Linked scalars: copies of one value (the same id), and copies plus a constant.

Facts from Linux 6.12/6.18 kernel/bpf/verifier.c.  `r1 = r2` gives both registers one id
(assign_scalar_id_before_mov); a branch that teaches one of them bounds teaches the
others (sync_linked_regs).  Since Linux 6.11 a 64-bit `r1 += K` (0 <= K <= S32_MAX,
privileged) keeps r1 linked with the delta: its id gets BPF_ADD_CONST and its `off`
holds K (adjust_reg_min_max_vals), so that what compilers emit for `i + 1` next to a
loop bound on `i` is bounded too; a second addition, or a copy of such a register,
ends the link (clear_scalar_id).  A scalar's `off` means nothing without that flag.

A branch on a linked scalar marks nothing precise by itself: the kernel lists the links
(collect_linked_regs) in the jump's history entry, and a later walk backwards that
reaches the jump with one of them precise marks them all (bt_sync_linked_regs;
backtrack.py LINKED).
"""

from __future__ import annotations

from .codes import OP_ADD
from .scalar import S32_MAX, scalar_alu
from .state import T_SCALAR, Reg, State

ADD_CONST = 1 << 31  # BPF_ADD_CONST: the id's flag of a register linked with a delta
_ADD_CONST = ADD_CONST  # (the same, a C integer in the compiled build: linked.pxd)
_BASE = ~ADD_CONST


def base_id(reg_id) -> int:  # types: linked.pxd
    return reg_id & _BASE


def link_after_alu(result: Reg, dst: Reg, op, src: Reg, is64, same_reg, capable) -> None:  # types: linked.pxd
    """The id (and delta) of `result` = dst <op> src (adjust_reg_min_max_vals, after the bounds)."""
    if capable and op == OP_ADD and is64 and dst.id and not same_reg and not src.var_off.mask:
        value = src.var_off.value
        if not (dst.id & _ADD_CONST or value > S32_MAX):
            result.id = dst.id | _ADD_CONST
            result.off = value
            return
    result.id = 0
    result.off = 0


def before_mov(reg: Reg, new_id) -> Reg:  # types: linked.pxd
    """assign_scalar_id_before_mov: the source of a copy as it must be stored first (the same
    register when nothing changes): a register linked with a delta loses the link, and an
    unknown scalar without an id gets one (`new_id()`), which the copy will share."""
    if reg.type is not T_SCALAR:
        return reg
    changed = reg
    if reg.id & _ADD_CONST:
        changed = reg.copy()
        changed.id = changed.off = 0
    if not changed.id and changed.var_off.mask:
        if changed is reg:
            changed = reg.copy()
        changed.id = new_id()
    return changed


LINKED_REGS_MAX = 6  # linked_regs: the links one conditional jump records; more lose their id


def collect(state: State, reg_id, live_in: list, pc, entries: list) -> None:  # types: linked.pxd
    """collect_linked_regs: append where the scalars linked with `reg_id` are, as
    (frameno, register or slot index, is a register), in the kernel's order: the current
    frame first, its live registers r0-r9, then its spilled scalars by slot; a caller's
    registers are those live at its call (frame_insn_idx).  Past six, a scalar loses
    its link (clear_scalar_id), as the kernel's does.  Called twice (dst and src with
    one id), an entry is listed twice, as there."""
    base = base_id(reg_id)
    frames = state.frames
    for frameno in range(len(frames) - 1, -1, -1):
        frame = frames[frameno]
        live = live_in[pc if frameno == len(frames) - 1 else frames[frameno + 1].callsite]
        regs = frame.regs
        for regno in range(10):
            reg = regs[regno]
            if live >> regno & 1 and reg.type is T_SCALAR and reg.id and base_id(reg.id) == base:
                if len(entries) < LINKED_REGS_MAX:
                    entries.append((frameno, regno, True))
                else:
                    regs[regno] = _unlinked(reg)
        stack = frame.stack
        for spi in sorted(stack):
            slot = stack[spi]
            reg = slot.spilled
            if slot.is_spill and reg is not None and reg.type is T_SCALAR and reg.id and base_id(reg.id) == base:
                if len(entries) < LINKED_REGS_MAX:
                    entries.append((frameno, spi, False))
                else:
                    frame.slot(spi).spilled = _unlinked(reg)


def _unlinked(reg: Reg) -> Reg:  # types: linked.pxd
    """clear_scalar_id"""
    new = reg.copy()
    new.id = new.off = 0
    return new


def sync(state: State, frameno, regno, entries: list) -> None:  # types: linked.pxd
    """sync_linked_regs: the scalars listed in `entries` (collect) that are still linked
    with register `regno` of frame `frameno` learn what a branch taught it, shifted by
    their deltas; a copy with the same delta becomes the register itself."""
    frames = state.frames
    known = frames[frameno].regs[regno]
    known_base, known_off = base_id(known.id), _delta(known)
    for where, index, is_reg in entries:
        if is_reg and where == frameno and index == regno:
            continue
        frame = frames[where]
        reg = frame.regs[index] if is_reg else frame.stack[index].spilled
        if reg is None or reg.type is not T_SCALAR or base_id(reg.id) != known_base:
            continue
        off = _delta(reg)
        if off == known_off:
            new = known.copy()  # copy_register_state
        else:  # reg = known; reg += delta, keeping reg's own id and delta (both in [0, S32_MAX])
            new = known.copy()
            new.id, new.off = reg.id, reg.off
            scalar_alu(new, OP_ADD, Reg.shared_const(off - known_off), True)
        if is_reg:
            frame.regs[index] = new
        else:
            frame.slot(index).spilled = new


def _delta(reg: Reg) -> int:  # types: linked.pxd
    """A linked scalar's delta (its `off` means nothing without BPF_ADD_CONST)."""
    return reg.off if reg.id & _ADD_CONST else 0


def ids_safe(old: Reg, cur: Reg, ids) -> bool:  # types: linked.pxd
    """regsafe's id rules for scalars: an old register with no id relied on no link; one
    linked with a delta matches only a current one linked with the same delta (its base id
    mapped too), and a plain link only a plain one (check_scalar_ids)."""
    old_id, cur_id = old.id, cur.id
    if not old_id:
        return True
    if old_id & _ADD_CONST:
        if not cur_id & _ADD_CONST or old.off != cur.off:
            return False
        return ids.check_scalar(old_id, cur_id) and ids.check_scalar(base_id(old_id), base_id(cur_id))
    if cur_id & _ADD_CONST:
        return False
    return ids.check_scalar(old_id, cur_id)
