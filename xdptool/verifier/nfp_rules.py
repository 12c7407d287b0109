"""What the Netronome NFP offload refuses, on top of the kernel's rules: the driver's checks, run
where the kernel runs them.

The kernel calls the driver from inside its verifier: bpf_prog_offload_verify_insn ->
nfp_verify_insn for every instruction it visits (at the top of do_check, before its own
checks of that instruction: check_insn here), then nfp_bpf_finalize after the walk and
before check_max_stack_depth (check_finish).  The driver keeps per-instruction notes over
all visits (the pointer type, the bounds of mul/div operands) and per-map notes (how
each 4-byte word of a value is used), as its nfp_insn_meta and nfp_bpf_map do; they
live here for one run.  After verification the device JIT translates every reachable
instruction from those notes and fails on what it has no code for (check_translate).
Maps are created before the program is loaded (check_program).

Rules, messages and the firmware's capabilities are data in xdptool/platform/nfp_driver.py
(RULES: each row names its driver function) and platform/helpers.py (the NfpCall column).
"""

from __future__ import annotations

from ..ebpf.opcodes import Alu, AluOp, AtomicOp, Cls, Mode
from ..platform import ctx as xdp_ctx
from ..platform import nfp_driver as driver
from ..platform.helpers import NFP_HELPERS
from .result import Reject
from .state import RegType

U32 = 0xFFFFFFFF
U64 = 0xFFFFFFFFFFFFFFFF

# The kernel's enum bpf_reg_type (include/linux/bpf.h, Linux 6.9+) for the driver's
# "unsupported ptr type %d": base types, PTR_MAYBE_NULL = 1 << 8, MEM_RINGBUF = 1 << 10.
KERNEL_REG_TYPE = {
    RegType.NOT_INIT: 0, RegType.SCALAR: 1, RegType.CTX: 2, RegType.MAP_PTR: 3, RegType.MAP_VALUE: 4,
    RegType.MAP_KEY: 5, RegType.STACK: driver.PTR_TO_STACK, RegType.PKT_META: 7, RegType.PKT: 8,
    RegType.PKT_END: 9, RegType.MEM: 17, RegType.MEM_OR_NULL: 17 | 1 << 8,
    RegType.RINGBUF_MEM: 17 | 1 << 10, RegType.RINGBUF_MEM_OR_NULL: 17 | 1 << 10 | 1 << 8,
    RegType.FUNC: 20, RegType.MAP_VALUE_OR_NULL: 4 | 1 << 8,
    RegType.SOCKET: 11, RegType.SOCKET_OR_NULL: 11 | 1 << 8, RegType.SOCK_COMMON: 12,
    RegType.SOCK_COMMON_OR_NULL: 12 | 1 << 8, RegType.XDP_SOCK: 15, RegType.DYNPTR: 21,  # CONST_PTR_TO_DYNPTR
    # PTR_TO_BTF_ID (16) with PTR_TRUSTED = 1 << 20, MEM_RCU = 1 << 21, PTR_UNTRUSTED = 1 << 14; MEM_RDONLY = 1 << 9
    RegType.BTF_ID: 16, RegType.BTF_ID_OR_NULL: 16 | 1 << 8, RegType.TRUSTED_BTF_ID: 16 | 1 << 20,
    RegType.TRUSTED_BTF_ID_OR_NULL: 16 | 1 << 20 | 1 << 8, RegType.RCU_BTF_ID: 16 | 1 << 21,
    RegType.RCU_BTF_ID_OR_NULL: 16 | 1 << 21 | 1 << 8, RegType.UNTRUSTED_BTF_ID: 16 | 1 << 14,
    RegType.RDONLY_UNTRUSTED_MEM: 17 | 1 << 9 | 1 << 14,
    RegType.RDONLY_MEM: 17 | 1 << 9, RegType.RDONLY_MEM_OR_NULL: 17 | 1 << 9 | 1 << 8,  # (slices' DYNPTR_TYPE_* left out)
}
_MEMORY = (RegType.CTX, RegType.STACK, RegType.MAP_VALUE, RegType.PKT)  # nfp_bpf_check_ptr
_EVENT_DATA = (RegType.SCALAR, RegType.STACK, RegType.MAP_VALUE, RegType.PKT)  # event_output's 4th argument
UNUSED, READ, WRITE, ATOMIC = "unused", "read", "write", "atomic"  # enum nfp_bpf_map_use, by its names
RX_QUEUE_INDEX = xdp_ctx.BY_NAME["rx_queue_index"].offset
# ISA v4 forms whose opcode the driver knows but whose `off` it ignores (ours: nfp_driver "miscompile")
_MISCOMPILED = {Alu.SDIV: ("sdiv (BPF_DIV with off 1)", "an unsigned divide")}


def stack_offset(reg) -> int | None:
    """A pointer's byte offset (off + constant var_off); None when variable."""
    if not reg.is_const:
        return None
    value = reg.var_off.value
    return reg.off + (value - (1 << 64) if value >> 63 else value)


def _c_rem(a: int, b: int) -> int:
    """C's %: the sign of the dividend."""
    r = abs(a) % b
    return -r if a < 0 else r


def _refuse(key: str, pc: int | None = None, **fields) -> Reject:
    return Reject(driver.message(key, **fields), pc)


class NfpRules:
    def __init__(self, firmware: driver.Firmware | str | None = None):
        self.firmware = driver.firmware_named(firmware)
        self.CALL_CHECKS = {"update_value": self._update_value_ok, "event_output": self._event_output_ok,
                            "adjust_head": self._adjust_head_ok}
        self._reset()

    def _reset(self) -> None:
        self.seen: set[int] = set()
        self.ptr: dict[int, tuple] = {}  # pc -> (RegType, offset, not_const): meta->ptr, meta->ptr_not_const
        self.alu: dict[int, list[int]] = {}  # pc -> [umin_src, umax_src, umin_dst, umax_dst]
        self.event_arg: dict[int, RegType] = {}  # pc -> meta->arg1.type of an event_output call
        self.use: dict[str, list[list]] = {}  # map name -> per 4-byte word [use, non_zero_update]

    def refuse_helper(self, func_id: int) -> str:
        return driver.unsupported_helper(func_id)

    # -- before the walk: the maps the device creates --------------------------------------------------
    def check_program(self, checker) -> None:
        self._reset()
        maps = checker.maps
        used = set(checker.program.referenced_maps())
        for name, refusal in driver.map_refusals([m for n, m in maps.items() if n in used], self.firmware):
            raise Reject(f"{refusal}\nmap {name}: refused when it is created, before the program loads", None)

    # -- each visit of an instruction: nfp_verify_insn ------------------------------------------------------
    def check_insn(self, checker, insn) -> None:
        pc = insn.pc
        self.seen.add(pc)
        refusal = driver.unsupported_opcode(insn.code)
        if refusal:
            raise Reject(refusal, pc)
        if insn.src > 10 or insn.dst > 10:
            raise _refuse("ext_regs", pc)
        cls = insn.cls
        if insn.is_call and not insn.is_local_call:  # is_mbpf_helper_call: kfuncs too
            return self.check_helper_call(checker, insn)
        if cls == Cls.LDX and insn.mode == Mode.MEM:
            self._check_ptr(checker, insn, insn.src, READ)
        elif cls == Cls.STX and insn.mode == Mode.MEM:
            self._check_store(checker, insn)
        elif insn.is_atomic:
            self._check_atomic(checker, insn)
        elif insn.is_alu:
            self._check_alu(checker, insn)
            miscompiled = _MISCOMPILED.get(insn.alu) or (
                (f"movsx (BPF_MOV with off {insn.off})", "a plain move without sign extension") if insn.is_movsx else None)
            if miscompiled:
                raise _refuse("miscompile", pc, what=miscompiled[0], instead=miscompiled[1])

    def check_helper_call(self, checker, insn) -> None:
        """nfp_bpf_check_helper_call: the firmware must have the helper, then its arguments."""
        helper = NFP_HELPERS.get(insn.imm)
        if helper is None:
            raise Reject(self.refuse_helper(insn.imm), insn.pc)
        call = helper.nfp
        if not self.firmware.has(call.needs):
            raise _refuse(call.missing, insn.pc, fname=call.fname)
        regs = checker.state.regs
        for regno in call.stack_args:
            reg = regs[regno]
            refusal = driver.stack_arg_refusal(call.fname, KERNEL_REG_TYPE[reg.type], stack_offset(reg))
            if refusal:
                raise Reject(refusal, insn.pc)
        if call.check:
            self.CALL_CHECKS[call.check](checker, insn)

    def _adjust_head_ok(self, checker, insn) -> None:
        if not self.firmware.adjust_head.no_meta:
            raise _refuse("adjust_head_meta", insn.pc)

    def _update_value_ok(self, checker, insn) -> None:
        """nfp_bpf_map_update_value_ok: bytes the verifier does not know to be zero (STACK_ZERO) may
        not be stored where the program keeps atomic counters; the others are noted as non-zero."""
        regs = checker.state.regs
        mapdef, value = regs[1].map, regs[3]
        if regs[1].type is not RegType.MAP_PTR or mapdef is None or mapdef.type in driver.OFFLOAD_NEUTRAL:
            return
        frame = checker.state.frames[value.frameno]
        off = stack_offset(value)
        words = self._words(mapdef)
        for i in range(mapdef.value_size):
            if frame.byte_kind(off + i) == "0":
                continue
            if words[i // 4][0] == ATOMIC:
                raise _refuse("update_nonzero", insn.pc, i=i, soff=-(off + i) - 1)
            words[i // 4][1] = True

    def _event_output_ok(self, checker, insn) -> None:
        regs = checker.state.regs
        flags, data = regs[3], regs[4]
        if flags.var_off.mask & U32 or flags.var_off.value & U32 != driver.BPF_F_CURRENT_CPU:
            var_off = f"({driver.c_hex(flags.var_off.value)}; {driver.c_hex(flags.var_off.mask)})"
            raise _refuse("event_output_cpu", insn.pc, var_off=var_off)
        if data.type not in _EVENT_DATA:
            raise _refuse("event_output_ptr", insn.pc, reg_type=KERNEL_REG_TYPE[data.type])
        if data.type is RegType.STACK:
            refusal = driver.stack_arg_refusal("event_output", driver.PTR_TO_STACK, stack_offset(data))
            if refusal:
                raise Reject(refusal, insn.pc)
        old = self.event_arg.setdefault(insn.pc, data.type)
        if old is not data.type:
            raise _refuse("event_output_changed", insn.pc, old=KERNEL_REG_TYPE[old], new=KERNEL_REG_TYPE[data.type])

    def _check_ptr(self, checker, insn, regno: int, use: str) -> None:
        """nfp_bpf_check_ptr: memory through ctx, stack, map values or packets only, one kind per instruction."""
        reg = checker.state.regs[regno]
        t, pc = reg.type, insn.pc
        if t not in _MEMORY:
            raise _refuse("ptr_type", pc, reg_type=KERNEL_REG_TYPE[t])
        old = self.ptr.get(pc)
        not_const = old[2] if old else False
        if t is RegType.STACK:  # nfp_bpf_check_stack_access
            off = stack_offset(reg)
            if off is None:
                raise _refuse("stack_var", pc)
            if old is not None:
                not_const = not_const or old[1] != off
                if not_const and _c_rem(old[1], 4) != _c_rem(off, 4):
                    raise _refuse("stack_moved", pc, old=old[1], new=off)
        if t is RegType.MAP_VALUE:
            if use == WRITE:
                raise _refuse("map_write", pc)
            self._mark_used(insn, reg, use)
        if old is not None and old[0] is not t:
            raise _refuse("ptr_changed", pc, old=KERNEL_REG_TYPE[old[0]], new=KERNEL_REG_TYPE[t])
        self.ptr[pc] = (t, stack_offset(reg) if reg.is_const else None, not_const)

    def _words(self, mapdef) -> list[list]:
        words = self.use.get(mapdef.name)
        if words is None:
            words = self.use[mapdef.name] = [[UNUSED, False] for _ in range(-(-mapdef.value_size // 4))]
        return words

    def _mark_used(self, insn, reg, use: str) -> None:
        """nfp_bpf_map_mark_used: each 4-byte word of a value is read, or an atomic counter, never both."""
        if not reg.is_const:
            raise _refuse("map_var", insn.pc)
        off, size = stack_offset(reg) + insn.off, insn.size_bytes
        if off < 0 or off + size > reg.map.value_size:  # an unsigned offset in the driver
            raise _refuse("map_oob", insn.pc)
        words = self._words(reg.map)
        i = 0
        while i < size:
            word = words[(off + i) // 4]
            if word[0] not in (UNUSED, use):
                raise _refuse("map_conflict", insn.pc, old=word[0], new=use, off=off + i)
            if word[1] and use == ATOMIC:
                raise _refuse("atomic_nonzero", insn.pc, off=off + i)
            word[0] = use
            i += 4 - (off + i) % 4

    def _check_store(self, checker, insn) -> None:
        """nfp_bpf_check_store: of the context, only rx_queue_index (queue selection) may be written."""
        if checker.state.regs[insn.dst].type is RegType.CTX:
            if insn.off != RX_QUEUE_INDEX:
                raise _refuse("ctx_store", insn.pc)
            if not self.firmware.queue_select:
                raise _refuse("fw_queue_select", insn.pc)
        self._check_ptr(checker, insn, insn.dst, WRITE)

    def _check_atomic(self, checker, insn) -> None:
        regs = checker.state.regs
        if insn.imm != AtomicOp.ADD:
            raise _refuse("atomic_op", insn.pc, imm=insn.imm)
        if regs[insn.dst].type is not RegType.MAP_VALUE:
            raise _refuse("atomic_dst", insn.pc, reg_type=KERNEL_REG_TYPE[regs[insn.dst].type])
        if regs[insn.src].type is not RegType.SCALAR:
            raise _refuse("atomic_src", insn.pc, reg_type=KERNEL_REG_TYPE[regs[insn.src].type])
        self._check_ptr(checker, insn, insn.dst, ATOMIC)

    def _check_alu(self, checker, insn) -> None:
        """nfp_bpf_check_alu: u32 operands for mul and div, a constant divisor; bounds over all visits."""
        op = insn.op
        is_mul = op == AluOp.MUL
        if not is_mul and op != AluOp.DIV:
            return
        regs = checker.state.regs
        src, dst = regs[insn.src], regs[insn.dst]
        acc = self.alu.setdefault(insn.pc, [U64, 0, U64, 0])
        acc[:] = [min(acc[0], src.umin), max(acc[1], src.umax), min(acc[2], dst.umin), max(acc[3], dst.umax)]
        umin_src, umax_src, _, umax_dst = acc
        reg_src = insn.uses_reg_src
        if is_mul:
            if umax_dst > U32:
                raise _refuse("mul_dst", insn.pc)
            if reg_src and umax_src > U32:
                raise _refuse("mul_src", insn.pc)
            if insn.cls == Cls.ALU64 and not reg_src and insn.imm < 0:
                raise _refuse("mul_neg", insn.pc)
            return
        if umax_dst > U32:
            raise _refuse("div_dst", insn.pc)
        if reg_src:
            if umin_src != umax_src:
                raise _refuse("div_var", insn.pc)
            if umax_src > U32:
                raise _refuse("div_src", insn.pc)
        elif insn.imm < 0:
            raise _refuse("div_neg", insn.pc)

    # -- after the walk: nfp_bpf_finalize -----------------------------------------------------------------------
    def check_finish(self, checker) -> None:
        """The stack of the deepest call chain must fit the firmware's (nfp_bpf_get_stack_usage)."""
        cfg = checker.cfg
        starts = cfg.subprog_starts
        saves: set[int] = set()
        calls: dict[int, list[int]] = {}
        for insn in checker.insns:
            sub = cfg.subprog_of(insn.pc)
            if 6 <= insn.dst <= 9:  # nfp_assign_subprog_idx_and_regs: needs_reg_push
                saves.add(sub)
            if insn.is_local_call:
                calls.setdefault(sub, []).append(starts.index(insn.target))
        frames = {sub: driver.frame_bytes(checker.stack_depth.get(sub, 0), sub != 0, sub in saves)
                  for sub in range(len(starts))}
        size = driver.stack_usage(frames, calls)
        if size > self.firmware.stack_bytes:
            raise _refuse("stack", None, size=size, fw=self.firmware.stack_bytes)

    # -- after verification: the device JIT ----------------------------------------------------------------------
    def check_translate(self, checker) -> None:
        """nfp_translate walks every instruction the verifier kept (dead code is skipped) and stops at
        the first whose callback has no code for it: "Translation failed" (-EOPNOTSUPP)."""
        by_pc = {insn.pc: insn for insn in checker.insns}
        for pc in sorted(self.seen):
            insn = by_pc[pc]
            detail = None
            if insn.cls == Cls.ST and insn.mode == Mode.MEM:
                detail = driver.message("jit_st")
            elif insn.cls == Cls.LDX and insn.mode == Mode.MEM and self.ptr.get(pc, (None,))[0] is RegType.CTX:
                size = insn.size_bytes
                if not (insn.off in (0, 4) and size == 4):  # mem_ldx_xdp: data, data_end
                    field = xdp_ctx.BY_OFFSET.get(insn.off)
                    detail = driver.message("jit_ctx_read", field=field.name if field else "no field",
                                            off=insn.off, size=size)
            if detail:
                # n_translated counts the instructions before it (both slots of ld_imm64)
                raise Reject(driver.message("jit", errno=driver.EOPNOTSUPP, done=pc) + "\n" + detail, pc)
