"""Helper calls in IR: native code for the hot helpers, a Python callback for the rest.

Native (no Python on the path): the map helpers on the kinds maps.py handles
(over the runtime's own map buffers), the helpers `natives.py` lists, and the
kfuncs dynptr.py and iters.py implement.  A
native emitter may still take the callback on a path it cannot handle (a map
kind handled in Python, a function pointer from elsewhere).  Every other helper goes
through one ctypes callback into the runtime's Python implementation
(xdptool/runtime/helpers.py), with the run state synchronised around it, so
semantics are the interpreter's by construction.  After a callback the code
checks `env.fault_kind` (a helper may fault on a bad pointer) and `env.stop`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import llvmlite.ir as ir

from ..helpers import SPIN_LOCK_FAULTS, SPIN_UNLOCK_ID, resolve_helper
from ..kfuncs import resolve_kfunc
from .env import ENV
from .irtypes import I64, c64
from .layout import CALLBACK_ARGS, CALLBACK_TYPE  # noqa: F401 - CALLBACK_TYPE: what the engine imported here

if TYPE_CHECKING:
    from .translate import Translator


_CALLBACK_IR = ir.FunctionType(I64, [I64] * 8)


# A native emitter: (translator, builder, insn, args r1..r5) -> r0 value, or None (use the callback).
NativeEmitter = Callable[["Translator", ir.IRBuilder, object, list], ir.Value | None]


class HelperEmitter:
    """Emits helper calls; `natives` maps helper ids to native emitters."""

    def __init__(self, natives: dict[int, NativeEmitter] | None = None,
                 kfunc_natives: dict[str, NativeEmitter] | None = None):
        self.natives = natives or {}
        self.kfunc_natives = kfunc_natives or {}  # by the kfunc's name (runtime/kfuncs.py)
        self.called: set[int] = set()

    def _args(self, t: "Translator", b: ir.IRBuilder) -> list[ir.Value]:
        return [t.reg(b, n) for n in range(1, 6)]

    def emit_call(self, t: "Translator", b: ir.IRBuilder, insn) -> None:
        helper_id = insn.imm
        resolve_helper(helper_id)  # refuses unknown helpers with the VM's message
        self.called.add(helper_id)
        if t.takes_locks and helper_id != SPIN_UNLOCK_ID:  # check_helper_call, as the interpreter
            held = b.icmp_unsigned("!=", ENV.load(b, t.env, "spin_lock"), c64(0))
            with b.if_then(held, likely=False):
                t.message_fault(b, insn.pc, SPIN_LOCK_FAULTS["call"])
        args = self._args(t, b)
        native = self.natives.get(helper_id)
        result = native(t, b, insn, args) if native is not None else None
        if result is None:
            result = self.callback(t, b, insn, c64(helper_id), args)
        t.set_reg(b, 0, result)
        self.clobber(t, b)

    def emit_kfunc_call(self, t: "Translator", b: ir.IRBuilder, insn) -> None:
        """A kfunc: native when `kfunc_natives` has it, else through the callback under its
        runtime/kfuncs.py id."""
        spec = resolve_kfunc(insn)  # refuses kfuncs the runtime lacks with the VM's message
        self.called.add(spec.id)
        if t.takes_locks:  # check_kfunc_call: no kfunc while a lock is held
            held = b.icmp_unsigned("!=", ENV.load(b, t.env, "spin_lock"), c64(0))
            with b.if_then(held, likely=False):
                t.message_fault(b, insn.pc, SPIN_LOCK_FAULTS["call"])
        args = self._args(t, b)
        native = self.kfunc_natives.get(spec.name)
        result = native(t, b, insn, args) if native is not None else None
        if result is None:
            result = self.callback(t, b, insn, c64(spec.id), args)
        t.set_reg(b, 0, result)
        self.clobber(t, b)

    def emit_dynamic_call(self, t: "Translator", b: ir.IRBuilder, insn) -> None:
        """callx: the helper id is in a register; always through the callback."""
        args = self._args(t, b)
        t.set_reg(b, 0, self.callback(t, b, insn, t.reg(b, insn.dst), args))
        self.clobber(t, b)

    @staticmethod
    def clobber(t: "Translator", b: ir.IRBuilder) -> None:
        """R1-R5 are undefined after a call; the interpreter leaves them as they are."""

    def callback(self, t: "Translator", b: ir.IRBuilder, insn, helper_id: ir.Value, args: list) -> ir.Value:
        t.store_count(b)
        ENV.store(b, t.env, "cb_r0", t.reg(b, 0))
        ENV.store(b, t.env, "cb_depth", b.load(t.depth))
        ENV.store(b, t.env, "cb_total", b.load(t.callback_count))
        ENV.store(b, t.env, "cb_prog", c64(t.unit.index))
        fn_ptr = b.inttoptr(ENV.load(b, t.env, "helper_cb"), _CALLBACK_IR.as_pointer())
        env_int = b.ptrtoint(t.env, I64)
        result = b.call(fn_ptr, [env_int, helper_id, c64(insn.pc), *args])
        failed = b.icmp_unsigned("!=", ENV.load(b, t.env, "fault_kind"), c64(0))
        t.add_nested(b, ENV.load(b, t.env, "cb_insns"))
        with b.if_then(failed, likely=False):
            t.store_count(b)
            b.ret(c64(0))
        return result
