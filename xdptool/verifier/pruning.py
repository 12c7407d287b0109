"""State pruning: when an explored state proves the current one safe (kernel states_equal).

`states_safe(old, cur)` holds when every concrete machine state described by
`cur` is also described by `old`: same frames, and register by register and
stack byte by stack byte, old's knowledge is weaker (regsafe/stacksafe).
Registers dead at the prune point (static liveness) and stack slots no path
from there reads (precision.py) are ignored, as the kernel's clean_live_states does.  `exact_key` is the identity used for
infinite-loop detection against states still being explored.
"""

from __future__ import annotations

from . import iterators
from .tnum import UNKNOWN as _UNKNOWN_TNUM
from .linked import ids_safe
from .state import MAYBE_NULL_TYPES, NON_NULL_OF, PKT_TYPES, SLOT, Frame, HashedKey, Reg, StackSlot, State, hashed_key
from .state import BTF_ID_TYPES, SOCK_TYPES, T_CTX, T_MAP_PTR, T_NOT_INIT, T_PKT_END, T_SCALAR, T_STACK, RegType

_EXACT_TYPES = (T_CTX, T_PKT_END, T_MAP_PTR, T_STACK)
# compared exactly, ids mapped (the kernel's regs_exact, the default case of regsafe)
_EXACT_ID_TYPES = SOCK_TYPES | BTF_ID_TYPES | {t for t in MAYBE_NULL_TYPES if NON_NULL_OF[t] in SOCK_TYPES}


def exact_key(state: State, live) -> HashedKey:  # types: pruning.pxd
    """A hashable identity of the state (dead registers of the current frame left out)."""
    indices = _LIVE_INDICES  # (compiled: a typed dict, pruning.pxd)
    live_regs = indices.get(live)
    if live_regs is None:
        live_regs = indices[live] = tuple([i for i in range(11) if live >> i & 1])
    key = []
    append = key.append
    last = state.frames[-1]
    for frame in state.frames:
        append(frame.callsite)
        append(frame.callback_depth)
        regs = frame.regs
        if frame is last:
            for i in live_regs:
                reg = regs[i]
                append(reg._key or reg.key())
        else:
            key.extend([reg._key or reg.key() for reg in regs])
        stack = frame.stack
        append(tuple(sorted([(spi, slot.key()) for spi, slot in stack.items()])) if stack else None)
    append(state.may_goto_depth)  # another may_goto iteration is not the same state (no infinite loop)
    append(state.refs)
    append(state.lock)
    return hashed_key(tuple(key))


_LIVE_INDICES: dict[int, tuple[int, ...]] = {}  # live mask -> the live register numbers


class _IdMap:
    """A bijection between old and current ids (kernel check_ids), with fresh ids for zeros."""

    __slots__ = ("forward", "backward", "tmp")

    def __init__(self):
        # made at the first pair of ids (most comparisons meet none)
        self.forward: dict[int, int] | None = None
        self.backward: dict[int, int] | None = None
        self.tmp = 0

    def check(self, old, cur) -> bool:  # types: pruning.pxd
        if not old or not cur:  # both set or both zero
            return old == cur
        forward, backward = self.forward, self.backward
        if forward is None:
            forward, backward = self.forward, self.backward = {}, {}
        if old in forward:
            return forward[old] == cur
        if cur in backward:
            return False
        forward[old] = cur
        backward[cur] = old
        return True

    def check_scalar(self, old, cur) -> bool:  # types: pruning.pxd
        if not old and not cur:
            return True
        if not old:
            self.tmp -= 1
            old = self.tmp
        if not cur:
            self.tmp -= 1
            cur = self.tmp - 10**12
        return self.check(old, cur)


def within(old: Reg, cur: Reg) -> bool:  # types: pruning.pxd
    """Every bound of `cur` inside `old`'s (kernel range_within and tnum_in)."""
    if not (old.umin <= cur.umin and old.umax >= cur.umax and old.smin <= cur.smin and old.smax >= cur.smax
            and old.u32_min <= cur.u32_min and old.u32_max >= cur.u32_max
            and old.s32_min <= cur.s32_min and old.s32_max >= cur.s32_max):
        return False
    if old.var_off is _UNKNOWN_TNUM:
        return True  # (every 64-bit tnum is in it: no unpacking, no arithmetic on Python ints)
    ov, om = old.var_off
    cv, cm = cur.var_off
    return not (cm & ~om) and ov == cv & ~om  # Tnum.contains, inline


_NOT_INIT, _SCALAR = T_NOT_INIT, T_SCALAR
# What regsafe compares for a pointer type, by type: one lookup (identity hashing) instead of a
# containment test in each group (the tuple's a rich comparison per member)
_BY_ID, _EXACT, _PKT, _MEM = range(4)
_REGSAFE_KIND = {t: _BY_ID if t in _EXACT_ID_TYPES else _EXACT if t in _EXACT_TYPES else _PKT if t in PKT_TYPES else _MEM
                 for t in RegType}


def regsafe(old: Reg, cur: Reg, ids) -> bool:  # types: pruning.pxd (ids: _IdMap or _FreshIds)
    t = old.type
    if t is _NOT_INIT:
        return True
    if cur.type is not t:
        return False
    if t is _SCALAR:
        if old.var_off.mask == 0:  # constants: the common case in loops
            return cur.var_off == old.var_off and (not old.id or ids_safe(old, cur, ids))
        return within(old, cur) and (not old.id or ids_safe(old, cur, ids))
    kinds = _REGSAFE_KIND  # (compiled: a typed dict, pruning.pxd)
    kind = kinds[t]
    if kind == _BY_ID:
        return (old.off == cur.off and old.var_off == cur.var_off and old.btf_type is cur.btf_type
                and ids.check(old.id, cur.id) and ids.check(old.ref_obj_id, cur.ref_obj_id))
    if kind == _EXACT:
        return (old.off == cur.off and old.frameno == cur.frameno and old.map is cur.map
                and old.var_off == cur.var_off and old.smin == cur.smin and old.smax == cur.smax
                and old.umin == cur.umin and old.umax == cur.umax and old.s32_min == cur.s32_min
                and old.s32_max == cur.s32_max and old.u32_min == cur.u32_min and old.u32_max == cur.u32_max)
    if kind == _PKT:
        if old.range > cur.range or old.off != cur.off or not ids.check(old.id, cur.id):
            return False
    else:  # map values, memory, their _or_null forms
        if old.map is not cur.map or old.off != cur.off or old.mem_size != cur.mem_size:
            return False
        od, cd = old.dynptr, cur.dynptr  # a dynptr slice: the dynptr's type, its id mapped
        if od is not cd and (od is None or cd is None or od[:2] != cd[:2] or not ids.check(od[2], cd[2])):
            return False
        if not ids.check(old.id, cur.id) or not ids.check(old.ref_obj_id, cur.ref_obj_id):
            return False
    return within(old, cur)


def slotsafe(spi, oslot: StackSlot, cslot: StackSlot | None, ids, allow_uninit, precise_slots) -> bool:  # types: pruning.pxd
    """One stack slot of `old` subsumes the same slot of `cur` (kernel stacksafe, per slot)."""
    ospilled: Reg | None = oslot.spilled
    if cslot is oslot and (ospilled is None or not (ospilled.id or ospilled.ref_obj_id)):
        return True  # the same (unchanging) slot, with no ids to map
    okinds: list = oslot.kinds
    ckinds: list = cslot.kinds if cslot is not None else _INVALID_SLOT
    if okinds != ckinds:
        for j in range(SLOT):
            okind = okinds[j]
            if okind == "?" or okind == ckinds[j]:
                continue
            if okind == "m" and (allow_uninit or ckinds[j] == "0"):
                continue
            return False
    if okinds[_LAST_BYTE] == "i":  # STACK_ITER (iterators.py)
        return iterators.slot_safe(ospilled, cslot.spilled, ids)
    if okinds[0] == "d":  # STACK_DYNPTR: the same type and slot, the reference (and id) mapped
        cspilled = cslot.spilled
        return (ospilled.dynptr == cspilled.dynptr and ids.check(ospilled.id, cspilled.id)
                and ids.check(ospilled.ref_obj_id, cspilled.ref_obj_id))
    if okinds[_LAST_BYTE] == "r" and ospilled is not None:
        if cslot is None or cslot.spilled is None:
            return False
        cspilled: Reg = cslot.spilled
        if not precise_slots >> spi & 1 and ospilled.type is _SCALAR and cspilled.type is _SCALAR:
            return True  # an imprecise spilled scalar: any scalar will do
        return regsafe(ospilled, cspilled, ids)
    return True


def stacksafe(old: Frame, cur: Frame, ids, allow_uninit, precise_slots=-1,
              live_slots=-1) -> int | None:  # types: pruning.pxd
    """None when every live slot of `old` subsumes `cur`'s, else the first slot that does not."""
    cstack: dict = cur.stack
    for spi, oslot in old.stack.items():
        if live_slots >> spi & 1 and not slotsafe(spi, oslot, cstack.get(spi), ids, allow_uninit, precise_slots):
            return spi
    return None


_INVALID_SLOT = ["?"] * 8
_LAST_BYTE = SLOT - 1  # a slot's last byte: where its kind of spill is (a C index compiled, pruning.pxd)


ELSEWHERE = 11  # what first_difference reports for frames and callers' registers and stacks
SLOT_HINT = 16  # ... and SLOT_HINT + spi for a stack slot of the current frame


ALL_PRECISE = (-1, -1, -1)  # every register and slot precise, every slot live


def first_difference(old: State, cur: State, live, allow_uninit,
                     precise: tuple = ALL_PRECISE) -> int | None:  # types: pruning.pxd
    """None when `old` subsumes `cur`, else where it failed: a register of the current
    frame (0-10), SLOT_HINT + a stack slot of it, or ELSEWHERE (callers' frames).  The
    caller keeps the answer as a hint: the same place tends to fail again (`quick_miss`).

    `precise` (registers, stack slots, live stack slots) of the current frame: whose
    scalar values can matter from here on (precision.py) -- the others match any
    scalar, as imprecise scalars do in the kernel -- and which slots may still be read
    (the others match anything).  The default treats everything as precise and live."""
    precise_regs, precise_slots, live_slots = precise
    oframes: list = old.frames
    cframes: list = cur.frames
    if len(oframes) != len(cframes):
        return ELSEWHERE
    ids = _IdMap()
    last = len(oframes) - 1
    for index in range(last + 1):
        of: Frame = oframes[index]
        cf: Frame = cframes[index]
        if of.callsite != cf.callsite or of.callback_depth > cf.callback_depth:  # func_states_equal
            return ELSEWHERE
        oregs: list = of.regs
        cregs: list = cf.regs
        for i in range(11):
            o: Reg = oregs[i]
            c: Reg = cregs[i]
            if o is c and not (o.id or o.ref_obj_id):
                continue  # the same (unchanging) register, with no id to map
            if index == last:
                if not live >> i & 1:
                    continue  # dead here
                if not precise_regs >> i & 1 and o.type is _SCALAR and c.type is _SCALAR:
                    continue
                if not regsafe(o, c, ids):
                    return i
            elif not regsafe(o, c, ids):
                return ELSEWHERE
        spi = (stacksafe(of, cf, ids, allow_uninit, precise_slots, live_slots) if index == last
               else stacksafe(of, cf, ids, allow_uninit))
        if spi is not None:
            return SLOT_HINT + spi if index == last else ELSEWHERE
    if not _refsafe(old, cur, ids):
        return ELSEWHERE
    return None


def _refsafe(old: State, cur: State, ids: _IdMap) -> bool:  # types: pruning.pxd
    """refsafe and the held lock: the same references, in the same order, ids mapped."""
    orefs, crefs = old.refs, cur.refs
    if len(orefs) != len(crefs):
        return False
    for (oid, _), (cid, _) in zip(orefs, crefs):
        if not ids.check(oid, cid):
            return False
    olock, clock = old.lock, cur.lock
    if olock is None or clock is None:
        return olock is clock
    return olock[0] == clock[0] and ids.check(olock[1], clock[1])


def states_safe(old: State, cur: State, live: int, allow_uninit: bool,
                precise: tuple[int, int, int] = ALL_PRECISE) -> bool:
    return first_difference(old, cur, live, allow_uninit, precise) is None


def quick_hint(old: State, hint) -> tuple | None:  # types: pruning.pxd (hint: int | None)
    """(frames, register, type, off, range, old register) when `hint` is a register of the
    current frame holding a constant scalar or a packet pointer in `old`: for those,
    quick_miss reduces to a few field tests on the current register (`hinted_miss`),
    without looking at `old` again.  The hint is live (liveness is per pc) and, once
    it failed, precise (precision only grows).  Loops meet many such entries per pc."""
    if hint is None or hint >= ELSEWHERE:
        return None
    reg = old.frames[-1].regs[hint]
    if (reg.type is _SCALAR and not reg.var_off.mask) or reg.type in PKT_TYPES:
        return len(old.frames), hint, reg.type, reg.off, reg.range, reg
    return None


def hinted_miss(quick: tuple, depth, c: Reg) -> bool:  # types: pruning.pxd
    """quick_miss(old, cur, hint) for the `quick_hint` of old, given cur's depth and register."""
    qdepth, _, qtype, qoff, qrange, o = quick
    if qdepth != depth:
        return False
    if qtype is _SCALAR:
        return c.type is not _SCALAR or c.var_off != o.var_off
    return c.type is not qtype or c.off != qoff or c.range < qrange or not within(o, c)


class _FreshIds(_IdMap):
    """The id map of a single register comparison: nothing mapped yet, so every id check passes.
    (An _IdMap: compiled, the comparisons take one typed map and call its checks in C.)"""

    __slots__ = ()

    def check(self, old, cur) -> bool:  # types: pruning.pxd
        return True

    def check_scalar(self, old, cur) -> bool:  # types: pruning.pxd
        return True


_FRESH_IDS = _FreshIds()


def quick_miss(old: State, cur: State, hint, live, allow_uninit, precise: tuple):  # types: pruning.pxd
    """True when the place `hint` (from first_difference) alone already shows that `old`
    cannot subsume `cur` (a necessary condition: with no ids mapped yet, id checks
    cannot fail)."""
    if hint == ELSEWHERE or len(old.frames) != len(cur.frames):
        return False
    oframe, cframe = old.frames[-1], cur.frames[-1]
    if hint >= SLOT_HINT:
        spi = hint - SLOT_HINT
        oslot = oframe.stack.get(spi)
        return oslot is not None and precise[2] >> spi & 1 and not slotsafe(spi, oslot, cframe.stack.get(spi), _FRESH_IDS, allow_uninit, precise[1])
    if not live >> hint & 1:
        return False
    o, c = oframe.regs[hint], cframe.regs[hint]
    if o is c or (not precise[0] >> hint & 1 and o.type is _SCALAR and c.type is _SCALAR):
        return False
    return not regsafe(o, c, _FRESH_IDS)
