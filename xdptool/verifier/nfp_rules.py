"""What the Netronome NFP offload refuses, on top of the kernel's rules.

Messages are the kernel driver's (drivers/net/ethernet/netronome/nfp/bpf/
verifier.c, offload.c, jit.c; summarised in /work/shared/nfp-facts.md); the
helper and map tables and their messages are shared with the offload pipeline
(xdptool/platform/nfp_driver.py).  The driver checks each instruction before the
kernel's verifier does (bpf_prog_offload_verify_insn at the top of do_check),
so check_insn runs before the checker's own handler: a helper call gets the
driver's refusals before the kernel's argument checks.
The program-size rule counts eBPF instructions as an upper bound of the NFP
window; the lowering checks the exact size later.
"""

from __future__ import annotations

from ..ebpf.opcodes import AluOp, AtomicOp, Cls, Mode
from ..platform import nfp_driver as driver
from ..platform.helpers import NFP_HELPERS
from .result import Reject
from .state import RegType

MAX_STACK = 512
FW_WINDOW = 2560  # NFP instructions in the public firmware's BPF window
U32 = 0xFFFFFFFF

# The kernel's enum bpf_reg_type (include/linux/bpf.h, Linux 6.9+) for the driver's
# "unsupported ptr type %d": base types, PTR_MAYBE_NULL = 1 << 8, MEM_RINGBUF = 1 << 10.
KERNEL_REG_TYPE = {
    RegType.NOT_INIT: 0, RegType.SCALAR: 1, RegType.CTX: 2, RegType.MAP_PTR: 3, RegType.MAP_VALUE: 4,
    RegType.MAP_KEY: 5, RegType.STACK: driver.PTR_TO_STACK, RegType.PKT_META: 7, RegType.PKT: 8,
    RegType.PKT_END: 9, RegType.MEM: 17 | 1 << 10, RegType.MEM_OR_NULL: 17 | 1 << 10 | 1 << 8,
    RegType.FUNC: 20, RegType.MAP_VALUE_OR_NULL: 4 | 1 << 8,
}


def stack_offset(reg) -> int | None:
    """A pointer's byte offset (off + constant var_off); None when variable."""
    if not reg.is_const:
        return None
    value = reg.var_off.value
    return reg.off + (value - (1 << 64) if value >> 63 else value)


class NfpRules:
    def refuse_helper(self, func_id: int) -> str:
        return driver.unsupported_helper(func_id)

    def check_program(self, checker) -> None:
        """Map definitions and size, before the walk."""
        if len(checker.program.insns) > FW_WINDOW:
            raise Reject("program too long", 0)
        used = checker.program.referenced_maps()
        message = driver.too_many_maps(len(used))
        if message:
            raise Reject(message, 0)
        for name in used:
            mapdef = checker.maps.get(name)
            message = driver.map_refusal(mapdef) if mapdef is not None else None
            if message:
                raise Reject(message, 0)

    def check_helper_call(self, checker, insn) -> None:
        """nfp_bpf_check_helper_call: the driver's helpers and their pointer arguments."""
        helper = NFP_HELPERS.get(insn.imm)
        if helper is None:
            raise Reject(self.refuse_helper(insn.imm), insn.pc)
        regs = checker.state.regs
        for regno in helper.nfp.stack_args:
            reg = regs[regno]
            message = driver.stack_arg_refusal(helper.nfp.fname, KERNEL_REG_TYPE[reg.type], stack_offset(reg))
            if message:
                raise Reject(message, insn.pc)

    def check_insn(self, checker, insn) -> None:
        if insn.is_call and not insn.is_local_call:  # is_mbpf_helper_call: kfuncs too
            return self.check_helper_call(checker, insn)
        regs = checker.state.regs
        if insn.is_alu:
            op = insn.op
            to_le_or_bswap = op == AluOp.END and not (insn.cls == Cls.ALU and insn.uses_reg_src)
            if op == AluOp.MOD or to_le_or_bswap or insn.is_movsx or insn.is_signed_divmod:
                raise Reject(f"instruction {insn.code:#02x} not supported", insn.pc)
            if op == AluOp.MUL:
                src_max = regs[insn.src].umax if insn.uses_reg_src else insn.imm & 0xFFFFFFFFFFFFFFFF
                if regs[insn.dst].umax > U32 or src_max > U32:
                    raise Reject("multiplier is not within u32 value range", insn.pc)
            if op == AluOp.DIV:
                if regs[insn.dst].umax > U32:
                    raise Reject("dividend is not within u32 value range", insn.pc)
                if insn.uses_reg_src:
                    src = regs[insn.src]
                    if not (src.is_scalar and src.is_const):
                        raise Reject("divisor is not constant", insn.pc)
                    if src.umax > U32:
                        raise Reject("divisor is not within u32 value range", insn.pc)
                elif insn.imm < 0:
                    raise Reject("divide by negative constant is not supported", insn.pc)
        elif insn.cls == Cls.LDX and insn.mode == Mode.MEMSX:
            raise Reject(f"instruction {insn.code:#02x} not supported", insn.pc)
        elif insn.is_atomic:
            if insn.imm != AtomicOp.ADD:
                raise Reject(f"atomic op not implemented: {insn.imm}", insn.pc)
            if regs[insn.dst].type is not RegType.MAP_VALUE:
                raise Reject(f"atomic add not to a map value pointer: {insn.dst}", insn.pc)
            if regs[insn.src].type is not RegType.SCALAR:
                raise Reject(f"atomic add not of a scalar: {insn.src}", insn.pc)
        elif insn.cls in (Cls.ST, Cls.STX):
            if regs[insn.dst].type is RegType.MAP_VALUE:
                raise Reject("map writes not supported", insn.pc)
            if regs[insn.dst].type is RegType.CTX and insn.off != 16:
                raise Reject(f"ctx write not supported off={insn.off}", insn.pc)
        if insn.cls in (Cls.LDX, Cls.ST, Cls.STX):
            base = regs[insn.src if insn.cls == Cls.LDX else insn.dst]
            if base.type is RegType.STACK and not base.is_const:
                raise Reject("variable ptr stack access", insn.pc)
            if base.type is RegType.MAP_VALUE and not base.is_const:
                raise Reject("map value read at a variable offset not supported", insn.pc)

    def check_finish(self, checker) -> None:
        depth = sum(-(-d // 64) * 64 for d in checker.stack_depth.values())
        if depth > MAX_STACK:
            raise Reject(f"stack too large: program {depth}B > FW stack {MAX_STACK}B", None)
