"""bpf_timer_init/set_callback/start/cancel as native code over the shadow's timer state
(runtime/helpers.py `Timers`: two words per region id of the map value holding the timer, the
start count in region id 0's), with the Python helpers' order of checks and answers.  A timer
in a region the words do not cover yet is initialised by the Python helper, which grows them
(the engine hands native code their new address after every Python helper)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...platform.helpers import HELPER_ID
from ..helpers import (
    BPF_F_TIMER_ABS, BPF_F_TIMER_CPU_PIN, MAX_CLOCKS, TIMER_ARMED, TIMER_CLOCKS, TIMER_INIT, TIMER_SIZE, TIMER_WORDS,
)
from ..memory import REGION_SHIFT
from .env import ENV
from .irtypes import I1, I64, I64P, c64, join, only_if
from .maps import MapHelpers, MapShape

if TYPE_CHECKING:
    from .translate import Translator

INIT, SET_CALLBACK, START, CANCEL = (HELPER_ID[f"timer_{name}"] for name in ("init", "set_callback", "start",
                                                                           "cancel"))


class TimerState:
    """The timer's words, after the helpers' checked read of the struct bpf_timer."""

    def __init__(self, t: "Translator", b: ir.IRBuilder, insn, timer: ir.Value):
        t.memory.access(t, b, insn, timer, TIMER_SIZE, write=False, helper=True)
        rid = b.lshr(timer, c64(REGION_SHIFT))
        self.covered = b.icmp_unsigned("<", rid, ENV.load(b, t.env, "timer_capacity"))
        words = b.inttoptr(ENV.load(b, t.env, "timers"), I64P)
        self.words = words
        safe = b.select(self.covered, rid, c64(0))
        self.state_ptr = b.gep(words, [b.mul(safe, c64(TIMER_WORDS))])
        self.callback_ptr = b.gep(words, [b.add(b.mul(safe, c64(TIMER_WORDS)), c64(1))])
        # outside the words: never initialised (region id 0's words are the start count)
        self.state = b.select(self.covered, b.load(self.state_ptr), c64(0))
        self.callback = b.select(self.covered, b.load(self.callback_ptr), c64(0))
        self.initialised = b.icmp_unsigned("!=", b.and_(self.state, c64(TIMER_INIT)), c64(0))


def _answer(b: ir.IRBuilder, insn, name: str, error: ir.Value, update) -> ir.Value:
    """`error` when it is not 0, else `update(builder)` runs and the answer is what it gives."""
    return only_if(b, b.icmp_unsigned("==", error, c64(0)), f"pc{insn.pc}.{name}", update, error)


def _init(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    flags = args[2]
    clock = b.and_(flags, c64(MAX_CLOCKS - 1))
    known = ir.Constant(I1, 0)
    for clock_id in sorted(TIMER_CLOCKS):
        known = b.or_(known, b.icmp_unsigned("==", clock, c64(clock_id)))
    bad = b.or_(b.icmp_unsigned(">=", flags, c64(MAX_CLOCKS)), b.not_(known))
    fn = b.function
    checked = fn.append_basic_block(f"pc{insn.pc}.timer_init.checked")
    done = fn.append_basic_block(f"pc{insn.pc}.timer_init.done")
    incoming = [(c64(-errno.EINVAL), b.block)]
    b.cbranch(bad, done, checked)
    b.position_at_end(checked)
    timer = TimerState(t, b, insn, args[0])
    python = fn.append_basic_block(f"pc{insn.pc}.timer_init.python")
    native = fn.append_basic_block(f"pc{insn.pc}.timer_init.native")
    b.cbranch(timer.covered, native, python)
    pb = ir.IRBuilder(python)  # a region the words do not cover yet: the Python helper grows them
    incoming.append((t.helpers.callback(t, pb, insn, c64(INIT), args), pb.block))
    pb.branch(done)
    b.position_at_end(native)

    def initialise(ib: ir.IRBuilder) -> ir.Value:
        ib.store(c64(TIMER_INIT), timer.state_ptr)
        ib.store(c64(0), timer.callback_ptr)
        return c64(0)

    incoming.append((_answer(b, insn, "timer_init.new", b.select(timer.initialised, c64(-errno.EBUSY), c64(0)),
                             initialise), b.block))
    b.branch(done)
    return join(b, done, incoming)


def _set_callback(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value:
    timer = TimerState(t, b, insn, args[0])

    def store(sb: ir.IRBuilder) -> ir.Value:
        sb.store(args[1], timer.callback_ptr)
        return c64(0)

    return _answer(b, insn, "timer_set_callback", b.select(timer.initialised, c64(0), c64(-errno.EINVAL)), store)


def _start(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value:
    fn = b.function
    checked = fn.append_basic_block(f"pc{insn.pc}.timer_start.checked")
    done = fn.append_basic_block(f"pc{insn.pc}.timer_start.done")
    incoming = [(c64(-errno.EINVAL), b.block)]
    bad_flags = b.icmp_unsigned("!=", b.and_(args[2], c64(~(BPF_F_TIMER_ABS | BPF_F_TIMER_CPU_PIN))), c64(0))
    b.cbranch(bad_flags, done, checked)
    b.position_at_end(checked)
    timer = TimerState(t, b, insn, args[0])
    ready = b.and_(timer.initialised, b.icmp_unsigned("!=", timer.callback, c64(0)))

    def arm(ab: ir.IRBuilder) -> ir.Value:
        ab.store(ab.or_(timer.state, c64(TIMER_ARMED)), timer.state_ptr)
        ab.store(ab.add(ab.load(timer.words), c64(1)), timer.words)  # the start count
        return c64(0)

    incoming.append((_answer(b, insn, "timer_start.arm", b.select(ready, c64(0), c64(-errno.EINVAL)), arm), b.block))
    b.branch(done)
    return join(b, done, incoming)


def _cancel(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value:
    timer = TimerState(t, b, insn, args[0])

    def disarm(cb: ir.IRBuilder) -> ir.Value:
        cb.store(c64(TIMER_INIT), timer.state_ptr)  # not armed, and the callback dropped
        cb.store(c64(0), timer.callback_ptr)
        return cb.zext(cb.icmp_unsigned("!=", cb.and_(timer.state, c64(TIMER_ARMED)), c64(0)), I64)

    return _answer(b, insn, "timer_cancel", b.select(timer.initialised, c64(0), c64(-errno.EINVAL)), disarm)


def timer_emitters(maps: MapHelpers) -> dict:
    def init(t, b, insn, args):  # the map argument must be a map handle: one of the native shapes
        return maps.dispatch(t, b, insn, INIT, args, _init, reg=2)

    return {INIT: init, SET_CALLBACK: lambda t, b, insn, args: _set_callback(t, b, insn, args),
            START: lambda t, b, insn, args: _start(t, b, insn, args),
            CANCEL: lambda t, b, insn, args: _cancel(t, b, insn, args)}
