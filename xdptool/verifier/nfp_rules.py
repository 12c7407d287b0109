"""What the Netronome NFP offload refuses, on top of the kernel's rules.

Messages are the kernel driver's (drivers/net/ethernet/netronome/nfp/bpf/
verifier.c, offload.c, jit.c; summarised in /work/shared/nfp-facts.md).
The program-size rule counts eBPF instructions as an upper bound of the NFP
window; the lowering checks the exact size later.
"""

from __future__ import annotations

from ..ebpf.opcodes import AluOp, AtomicOp, Cls, Mode
from ..elf.model import MapType
from .helpers import HELPER_ID
from .result import Reject
from .state import RegType

ALLOWED_HELPERS = frozenset(HELPER_ID[n] for n in (
    "map_lookup_elem", "map_update_elem", "map_delete_elem", "xdp_adjust_head", "xdp_adjust_tail",
    "get_prandom_u32", "perf_event_output"))
ALLOWED_MAP_TYPES = frozenset({MapType.HASH, MapType.ARRAY})
MAX_MAPS = 128
MAX_KEY, MAX_VALUE, MAX_ENTRY = 56, 56, 64
MAX_STACK = 512
FW_WINDOW = 2560  # NFP instructions in the public firmware's BPF window
U32 = 0xFFFFFFFF


class NfpRules:
    def refuse_helper(self, func_id: int) -> str:
        return f"unsupported function id: {func_id}"

    def check_program(self, checker) -> None:
        """Map definitions and size, before the walk."""
        if len(checker.program.insns) > FW_WINDOW:
            raise Reject("program too long", 0)
        used = checker.program.referenced_maps()
        if len(used) > MAX_MAPS:
            raise Reject(f"too many maps: {len(used)} > {MAX_MAPS}", 0)
        for name in used:
            mapdef = checker.maps.get(name)
            if mapdef is None:
                continue
            if mapdef.type not in ALLOWED_MAP_TYPES:
                raise Reject(f"map type {mapdef.type.kernel_name} ({int(mapdef.type)}) not supported by the NFP offload", 0)
            if mapdef.key_size > MAX_KEY:
                raise Reject(f"map key size {mapdef.key_size}, FW max is {MAX_KEY}", 0)
            if mapdef.value_size > MAX_VALUE:
                raise Reject(f"map value size {mapdef.value_size}, FW max is {MAX_VALUE}", 0)
            if mapdef.key_size + mapdef.value_size > MAX_ENTRY:
                raise Reject(f"map elem size {mapdef.key_size + mapdef.value_size}, FW max is {MAX_ENTRY}", 0)
            if mapdef.flags:
                raise Reject(f"map flags are not supported ({mapdef.flags:#x})", 0)

    def check_insn(self, checker, insn) -> None:
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
