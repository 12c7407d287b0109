"""Helpers that call back into the program: bpf_for_each_map_elem, bpf_user_ringbuf_drain
and the bpf_timer helpers (bpf_loop's bounded walk is Checker._loop_call).

What the kernel does, Linux 6.18 kernel/bpf/verifier.c (which helper has a callback, and
what the callback finds in its registers, is data in platform/helpers.py CALLBACKS):

* a sync callback (push_callback_call) is walked as a call from the helper call: a copy
  of the state gets the callback's frame, set up as set_map_elem_callback_state /
  set_user_ringbuf_callback_state do, and is queued; this path goes on after the call.
  The callback's exit comes back to the call instruction (prepare_func_exit), which
  queues another run, until the states at the call converge (Checker._visit: is_state_visited
  compares an open checkpoint at the call RANGE_WITHIN, and stops comparing one after 64
  misses per hit, its `n` for force checkpoints); the scalars the callback changed
  are widened against the call's previous checkpoint unless marked precise
  (caller_precise_slots);
* an async one (a timer's; push_async_cb) is walked later from a fresh state whose only
  frame is the callback's (set_timer_callback_state), and must return 0
  (check_return_code, "At async callback return");
* a timer argument is the struct bpf_timer of a map value, at its constant offset
  (process_timer_func); bpf_timer_init's map must be the timer's;
* a callback is a static subprogram whose address an ld_imm64 loads (check_ld_imm);
  a sync callback's stack adds to its caller's, an async one's stack is its own
  (check_max_stack_depth_subprog).
"""

from __future__ import annotations

from ..platform.helpers import FOR_EACH_MAP_TYPES, Arg, Callback, CallbackParam, Helper
from . import dynptr
from .fields import record_of
from .precision import slot_mask
from .result import Reject
from .state import (
    MAX_CALL_FRAMES, NOT_INIT, T_MAP_KEY, T_MAP_PTR, T_MAP_VALUE, T_SCALAR, Frame, Reg, RegType, State,
)
from ..errors import XdpError

ASYNC = "async"  # Frame.callback of an async callback's frame (its frame 0): it returns 0, not to a caller
JMP_SEQ_LIMIT = 8192  # BPF_COMPLEXITY_LIMIT_JMP_SEQ (push_async_cb counts the queue too)

# every stack slot (precision.ALL_SLOTS is a C constant in the compiled build: not importable)
ALL_SLOTS = slot_mask(-512, 0)


def check_func_load(checker, target: int) -> None:
    """check_ld_imm, BPF_PSEUDO_FUNC: the address of a static subprogram, known from BTF."""
    if not checker.program.func_info:
        raise Reject("missing btf func_info")
    if target in checker.global_funcs:
        raise Reject("callback function not static")
    if target == 0:
        raise Reject("callback function cannot be the main program")


def check_timer_arg(checker, regno: int, reg: Reg, meta: dict) -> None:
    """process_timer_func: the struct bpf_timer of a map value, at its constant offset."""
    if not reg.is_const:
        raise Reject(f"R{regno} doesn't have constant offset. bpf_timer has to be at the constant offset")
    mapdef = reg.map
    record = record_of(mapdef, checker.btf)
    if record is None:
        raise Reject(f"map '{mapdef.name}' has to have BTF in order to use bpf_timer")
    timer = next((f for f in record if f.name == "bpf_timer"), None)
    if timer is None:
        raise Reject(f"map '{mapdef.name}' has no valid bpf_timer")
    off = reg.const_value + reg.off
    if off != timer.offset:
        raise Reject(f"off {off} doesn't point to 'struct bpf_timer' that is at {timer.offset}")
    if not any(m is mapdef for m in checker.maps.values()):
        # the kernel tells inner maps apart by map_uid, which xdptool does not track
        raise XdpError(f"verifier: bpf_timer in the inner map {mapdef.name} of a map of maps is not implemented")
    meta["map"] = mapdef


def check_task_arg(checker, regno: int, reg: Reg) -> None:
    """check_reg_type for bpf_find_vma's ARG_PTR_TO_BTF_ID: (a struct that starts with) a
    struct task_struct."""
    types = checker.btf_ptrs.types("bpf_find_vma's task argument")
    need = types.struct("task_struct", "bpf_find_vma's task argument")
    note = types.mismatch(reg.btf_type.id, reg.off, need.id, strict=False)
    if note is not None:
        raise Reject(f"{note}R{regno} is of type {reg.btf_type.name} but task_struct is expected")


def check_map_arg(meta: dict, reg: Reg) -> None:
    """check_func_arg, ARG_CONST_MAP_PTR after a timer argument: the timer's own map."""
    if meta["map"] is not None and meta["map"] is not reg.map:
        raise Reject("timer pointer in R1 map_uid=0 doesn't match map pointer in R2 map_uid=0")


def push_callback(checker, insn, helper: Helper, meta: dict) -> None:
    """push_callback_call for a helper one of whose arguments is a callback (its address)."""
    spec = helper.callback
    assert spec is not None  # called for helpers with a callback only
    state: State = checker.state
    target = state.regs[helper.args.index(Arg.CALLBACK) + 1].off  # ARG_PTR_TO_FUNC: meta->subprogno
    subprog = checker.cfg.subprog_of(target)
    mapdef = meta["map"]
    if spec.is_async:
        if len(checker.pending) + 1 > JMP_SEQ_LIMIT:
            raise Reject(f"The sequence of {len(checker.pending) + 1} jumps is too complex for async cb.")
        frame = Frame(0, -1, subprog, callback=ASYNC)
        _set_params(checker, frame, spec, state.regs, mapdef)
        checker.async_subprogs.add(subprog)
        checker.stack_depth.setdefault(subprog, 0)
        checker.pending.append((State([frame]), target, insn.pc, None, []))  # no parent, no history: a walk of its own
        return
    if len(state.frames) >= MAX_CALL_FRAMES:
        raise Reject(f"the call stack of {len(state.frames) + 1} frames is too deep")
    if helper.name == "for_each_map_elem" and mapdef.type not in FOR_EACH_MAP_TYPES:
        raise Reject("callback function not allowed for map")
    queued = state.copy()
    queued.cur.callback_depth += 1
    callee = Frame(len(queued.frames), insn.pc, subprog, callback=True)
    _set_params(checker, callee, spec, queued.regs, mapdef)
    queued.frames.append(callee)
    checker.stack_depth.setdefault(subprog, 0)
    checker.push(queued, target, insn.pc)
    state.cur.callback_depth = 0


def _set_params(checker, callee: Frame, spec: Callback, caller_regs: list, mapdef) -> None:
    """The callee's R1.. as the helper's set_*_callback_state sets them (others uninitialised)."""
    params = spec.params
    for regno, param in enumerate(params, 1):
        if param is CallbackParam.INDEX:
            reg = Reg.shared_unknown()
        elif param is CallbackParam.CONTEXT:
            reg = caller_regs[spec.context_arg]
        elif param is CallbackParam.CALLER_R1:
            reg = caller_regs[1]
        elif param is CallbackParam.VMA:
            types = checker.btf_ptrs.types("bpf_find_vma's callback")
            reg = Reg.pointer(RegType.BTF_ID, btf_type=types.struct("vm_area_struct", "bpf_find_vma's callback"))
        elif param is CallbackParam.MAP:
            reg = Reg.pointer(T_MAP_PTR, map=mapdef)
        elif param is CallbackParam.MAP_KEY:
            reg = Reg.pointer(T_MAP_KEY, map=mapdef)
        elif param is CallbackParam.MAP_VALUE:
            reg = Reg.pointer(T_MAP_VALUE, map=mapdef)
        else:  # DYNPTR: mark_dynptr_cb_reg, a LOCAL dynptr with an id of its own
            reg = dynptr.dynptr_reg(dynptr.DynptrType.LOCAL, True, checker.new_id())
        callee.regs[regno] = reg
    for regno in range(len(params) + 1, 6):
        callee.regs[regno] = NOT_INIT


def caller_precise_slots(checker, callsite: int, callee_subprog: int) -> int:
    """The caller's stack slots a callback's return must not widen when no path-sensitive
    marks are at hand (facts collected, or the call's checkpoint loose): those whose
    values matter after the call, or all of them when the callback may read one for a
    value that matters (precision.py's mask at its entry: its via-pointer reads count for
    every slot).  Otherwise the kernel's rule holds (prepare_func_exit, find_prev_entry,
    widen_imprecise_scalars): what this path's decisions marked precise so far at the
    call's checkpoint (backtrack.py) stays, every other changed scalar becomes unknown --
    precision.py's static answer counts every slot at the call (callbacks read the
    caller's stack), which kept a counter like w->seen apart forever."""
    after = checker._precise_at(callsite + 1)[1]
    inside = checker._precise_at(checker.cfg.subprog_starts[callee_subprog])[1]
    return ALL_SLOTS if inside else after


def check_return(r0: Reg, is_async: bool) -> None:
    """What a callback returns: 0 or 1 (prepare_func_exit), an async one 0 (check_return_code)."""
    if r0.type is not T_SCALAR:
        if is_async:
            raise Reject(f"At async callback return the register R0 is not a known value ({r0.type.value})")
        raise Reject("R0 not a scalar value")
    low, high = (0, 0) if is_async else (0, 1)
    if not (low <= r0.smin and r0.smax <= high):
        raise Reject(invalid_scalar(r0, low, high, "At async callback return" if is_async else "At callback return"))


def invalid_scalar(reg: Reg, low: int, high: int, where: str) -> str:
    """verbose_invalid_scalar: the register's signed bounds where they are known."""
    shown = ""
    if reg.smin > -(1 << 63):
        shown += f" smin={reg.smin}"
    if reg.smax < (1 << 63) - 1:
        shown += f" smax={reg.smax}"
    return f"{where} the register R0 has{shown or ' unknown scalar value'} should have been in [{low}, {high}]"
