"""The Linux NFP offload driver's rules as data, with its messages, and the firmware it reads.

Sources (read in Netronome/nfp-drv-kmods src/bpf/, the same files as the kernel's
drivers/net/ethernet/netronome/nfp/bpf/): verifier.c (nfp_verify_insn and what it
calls, nfp_bpf_finalize), jit.c (the instr_cb table, nfp_bpf_jit), offload.c
(nfp_bpf_map_alloc), main.c (the firmware's capability TLVs), and Netronome's
nic-firmware (firmware/apps/nic/ebpf.uc, maps/hashmap.uc, nfd_user_cfg.h).

`RULES` is the one table of refusals: every row names the driver function it comes
from, the phase it runs in, and the driver's own text.  The verifier's `nfp`
profile (xdptool/verifier/nfp_rules.py) applies them and decides what the card
accepts; the offload pipeline (nfp/check.py, nfp/lower.py) reports the same rows.
Rows of phase "xdptool" are ours, not the driver's: programs the driver would
accept and then silently miscompile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..ebpf.opcodes import AluOp, Cls, JmpOp, Mode, Size, Src
from .maps import MapType

if TYPE_CHECKING:
    from ..elf.model import MapDef


PTR_TO_STACK = 6  # enum bpf_reg_type (include/linux/bpf.h)
BPF_F_CURRENT_CPU = 0xFFFFFFFF  # uapi: flags of bpf_perf_event_output (BPF_F_INDEX_MASK)
EOPNOTSUPP, ENOSPC = 95, 28


# -- the firmware ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdjustHead:
    """NFP_BPF_CAP_TYPE_ADJUST_HEAD (main.c nfp_bpf_parse_cap_adjust_head)."""

    no_meta: bool  # NFP_BPF_ADJUST_HEAD_NO_META: the driver supports only this kind
    off_min: int
    off_max: int
    guaranteed_sub: int
    guaranteed_add: int


@dataclass(frozen=True)
class Firmware:
    """What a firmware tells the driver it can do (its capability TLVs and BAR fields)."""

    name: str
    description: str
    helpers: frozenset[str]  # NFP_BPF_CAP_TYPE_FUNC routines: map_lookup, map_update, map_delete, perf_event_output
    map_types: frozenset[MapType]  # NFP_BPF_CAP_TYPE_MAPS .types
    max_maps: int
    max_elems: int  # entries over all maps of the device
    max_key: int
    max_value: int
    max_elem: int  # key and value, each rounded up to 8 bytes
    pseudo_random: bool = True  # NFP_BPF_CAP_TYPE_RANDOM
    queue_select: bool = True  # NFP_BPF_CAP_TYPE_QUEUE_SELECT
    adjust_tail: bool = True  # NFP_BPF_CAP_TYPE_ADJUST_TAIL
    adjust_head: AdjustHead | None = None
    stack_bytes: int = 512  # NFP_NET_CFG_BPF_STACK_SZ * 64
    max_insns: int = 2560  # NFP_NET_CFG_BPF_MAX_LEN: the image's window

    def has(self, capability: str) -> bool:
        """A helper routine or a capability flag, by the name NfpCall.needs gives it."""
        return capability in self.helpers or bool(getattr(self, capability, False))


# nic-firmware ebpf.uc: ebpf_init_cap_maps(HASH|ARRAY, HASHMAP_MAX_TID_EBPF=128,
# HASHMAP_MAX_ENTRIES=1024*2000, HASHMAP_MAX_KEYS_SZ=56, HASHMAP_MAX_VALU_SZ=56,
# HASHMAP_KEYS_VALU_SZ=64); adjust_head(NO_META, 44, 248, 84, 112); RANDOM,
# QUEUE_SELECT and ADJUST_TAIL advertised; NFD_BPF_STACK_SZ 512, NFD_BPF_MAX_LEN 2560.
_PUBLIC_LIMITS = dict(map_types=frozenset({MapType.HASH, MapType.ARRAY}), max_maps=128, max_elems=2_048_000,
                      max_key=56, max_value=56, max_elem=64, adjust_head=AdjustHead(True, 44, 248, 84, 112))

AGILIO_BPF = Firmware(
    "agilio-bpf",
    "the Agilio eBPF firmware (linux-firmware netronome/bpf/), the firmware Netronome's offload samples "
    "require; its helper routines (lookup, update, delete, perf event output) are inferred from the samples "
    "and the driver, its limits are those of the public nic-firmware source",
    frozenset({"map_lookup", "map_update", "map_delete", "perf_event_output"}), **_PUBLIC_LIMITS)
NIC_FIRMWARE_SRC = Firmware(
    "nic-firmware",
    "built from the public Netronome/nic-firmware source (BPF flavour): ebpf.uc advertises one helper "
    "routine, map lookup (EBPF_CAP_FUNC_ID_LOOKUP)",
    frozenset({"map_lookup"}), **_PUBLIC_LIMITS)
FIRMWARES: dict[str, Firmware] = {fw.name: fw for fw in (AGILIO_BPF, NIC_FIRMWARE_SRC)}
DEFAULT_FIRMWARE = AGILIO_BPF


def firmware_named(name: str | Firmware | None) -> Firmware:
    from ..errors import XdpError

    if name is None:
        return DEFAULT_FIRMWARE
    if isinstance(name, Firmware):
        return name
    try:
        return FIRMWARES[name]
    except KeyError:
        raise XdpError(f"unknown NFP firmware {name!r} (have {', '.join(FIRMWARES)})") from None


# -- the rules ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    key: str
    text: str  # the driver's message as a str.format template
    where: str  # driver file and function
    phase: str  # verifier ([nfp] lines in the verifier log), finalize, map (dmesg at map creation),
    # jit (dmesg at translation), xdptool (ours: the driver would accept and miscompile); for
    # MAP_OP_RULES the errno the operation returns


_V, _F, _M, _J, _X = "verifier", "finalize", "map", "jit", "xdptool"
RULES: dict[str, Rule] = {r.key: r for r in (
    # nfp_verify_insn: the opcode must have an emitter in jit.c's instr_cb table
    Rule("opcode", "instruction {code:#x} not supported", "verifier.c nfp_verify_insn / jit.c instr_cb", _V),
    Rule("ext_regs", "program uses extended registers - jit hardening?", "verifier.c nfp_verify_insn", _V),
    # helpers (nfp_bpf_check_helper_call)
    Rule("helper", "unsupported function id: {func_id}", "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("fw_adjust_head", "adjust_head not supported by FW", "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("adjust_head_meta", "adjust_head: FW requires shifting metadata, not supported by the driver",
         "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("fw_adjust_tail", "adjust_tail not supported by FW", "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("fw_map_call", "{fname}: not supported by FW", "verifier.c nfp_bpf_map_call_ok", _V),
    Rule("fw_random", "bpf_get_prandom_u32(): FW doesn't support random number generation",
         "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("fw_event_output", "event_output: not supported by FW", "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("event_output_cpu", "event_output: must use BPF_F_CURRENT_CPU, var_off: {var_off}",
         "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("event_output_ptr", "event_output: unsupported ptr type: {reg_type}", "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("event_output_changed", "event_output: ptr type changed: {old} {new}", "verifier.c nfp_bpf_check_helper_call", _V),
    Rule("stack_arg_type", "{fname}: unsupported ptr type {reg_type}", "verifier.c nfp_bpf_stack_arg_ok", _V),
    Rule("stack_arg_var", "{fname}: variable pointer", "verifier.c nfp_bpf_stack_arg_ok", _V),
    Rule("stack_arg_align", "{fname}: unaligned stack pointer {offset}", "verifier.c nfp_bpf_stack_arg_ok", _V),
    Rule("update_nonzero", "value at offset {i}/{soff} may be non-zero, bpf_map_update_elem() is required to "
         "initialize atomic counters to zero to avoid offload endian issues", "verifier.c nfp_bpf_map_update_value_ok", _V),
    # memory accesses (nfp_bpf_check_ptr, nfp_bpf_check_store, nfp_bpf_check_atomic)
    Rule("ptr_type", "unsupported ptr type: {reg_type}", "verifier.c nfp_bpf_check_ptr", _V),
    Rule("ptr_changed", "ptr type changed for instruction {old} -> {new}", "verifier.c nfp_bpf_check_ptr", _V),
    Rule("stack_var", "variable ptr stack access", "verifier.c nfp_bpf_check_stack_access", _V),
    Rule("stack_moved", "stack access changed location was:{old} is:{new}", "verifier.c nfp_bpf_check_stack_access", _V),
    Rule("map_var", "map value offset is variable", "verifier.c nfp_bpf_map_mark_used", _V),
    Rule("map_oob", "map value access out-of-bounds", "verifier.c nfp_bpf_map_mark_used", _V),
    Rule("map_conflict", "map value use type conflict {old} vs {new} off: {off}", "verifier.c nfp_bpf_map_mark_used_one", _V),
    Rule("atomic_nonzero", "atomic counter in map value may already be initialized to non-zero value off: {off}",
         "verifier.c nfp_bpf_map_mark_used_one", _V),
    Rule("map_write", "map writes not supported", "verifier.c nfp_bpf_check_ptr", _V),
    Rule("fw_queue_select", "queue selection not supported by FW", "verifier.c nfp_bpf_check_store", _V),
    Rule("ctx_store", "unsupported store to context field", "verifier.c nfp_bpf_check_store", _V),
    Rule("atomic_op", "atomic op not implemented: {imm}", "verifier.c nfp_bpf_check_atomic", _V),
    Rule("atomic_dst", "atomic add not to a map value pointer: {reg_type}", "verifier.c nfp_bpf_check_atomic", _V),
    Rule("atomic_src", "atomic add not of a scalar: {reg_type}", "verifier.c nfp_bpf_check_atomic", _V),
    # ALU (nfp_bpf_check_alu): bounds gathered over every visit of the instruction
    Rule("mul_dst", "multiplier is not within u32 value range", "verifier.c nfp_bpf_check_alu", _V),
    Rule("mul_src", "multiplicand is not within u32 value range", "verifier.c nfp_bpf_check_alu", _V),
    Rule("mul_neg", "sign extended multiplicand won't be within u32 value range", "verifier.c nfp_bpf_check_alu", _V),
    Rule("div_dst", "dividend is not within u32 value range", "verifier.c nfp_bpf_check_alu", _V),
    Rule("div_var", "divisor is not constant", "verifier.c nfp_bpf_check_alu", _V),
    Rule("div_src", "divisor is not within u32 value range", "verifier.c nfp_bpf_check_alu", _V),
    Rule("div_neg", "divide by negative constant is not supported", "verifier.c nfp_bpf_check_alu", _V),
    # after the walk: the stack of the deepest call chain (nfp_bpf_finalize, nfp_bpf_get_stack_usage)
    Rule("stack", "stack too large: program {size}B > FW stack {fw}B", "verifier.c nfp_bpf_finalize", _F),
    # map creation (offload.c nfp_bpf_map_alloc), in its order; the kernel core offloads HASH and ARRAY only
    # (the kernel prints nothing there, it returns EINVAL: these words are ours)
    Rule("map_core_type", "map type {type} not supported: the kernel offloads only hash and array maps (EINVAL)",
         "kernel/bpf/offload.c bpf_map_offload_map_alloc", _M),
    Rule("map_flags", "map flags are not supported", "offload.c nfp_bpf_map_alloc", _M),
    Rule("map_type", "map type not supported", "offload.c nfp_bpf_map_alloc", _M),
    Rule("map_count", "too many maps for a device", "offload.c nfp_bpf_map_alloc", _M),
    Rule("map_elems", "map with too many elements: {entries}, left: {left}", "offload.c nfp_bpf_map_alloc", _M),
    Rule("map_elem_size", "map elements too large: {size}, FW max element size (key+value): {fw}",
         "offload.c nfp_bpf_map_alloc", _M),
    Rule("map_key", "map key size {size}, FW max is {fw}", "offload.c nfp_bpf_map_alloc", _M),
    Rule("map_value", "map value size {size}, FW max is {fw}", "offload.c nfp_bpf_map_alloc", _M),
    # translation (jit.c): the callback of an instruction the verifier passed returns -EOPNOTSUPP
    Rule("jit", "Translation failed with error -{errno} (translated: {done})", "jit.c nfp_bpf_jit", _J),
    Rule("jit_ctx_read", "mem_ldx_xdp translates reads of data and data_end only (this reads {field}, off {off} size {size})",
         "jit.c mem_ldx_xdp", _J),
    Rule("jit_st", "mem_st translates BPF_ST only through a packet pointer, and the driver records the pointer of "
         "STX stores only (nfp_verify_insn), so no BPF_ST translates", "jit.c mem_st", _J),
    Rule("jit_window", "instruction limit reached ({fw} NFP instructions)", "jit.c nfp_prog_push", _J),
    # ours: the driver ignores `off` on ALU instructions, so ISA v4's signed forms run as the unsigned ones
    Rule("miscompile", "xdptool refuses {what}: the nfp driver accepts it but its JIT ignores the instruction's "
         "off field and would emit {instead} (a silent miscompile)", "jit.c instr_cb (off ignored)", _X),
)}


def message(key: str, **fields) -> str:
    return RULES[key].text.format(**fields)


def c_hex(value: int) -> str:
    """printf("%#llx"): no 0x before a zero."""
    return f"{value:#x}" if value else "0"


# -- opcodes: jit.c instr_cb ------------------------------------------------------------------------------
_ALU_OPS = (AluOp.MOV, AluOp.XOR, AluOp.AND, AluOp.OR, AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV,
            AluOp.LSH, AluOp.RSH, AluOp.ARSH)
_COND_JMPS = (JmpOp.JEQ, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JSLT,
              JmpOp.JSLE, JmpOp.JSET, JmpOp.JNE)
_SIZES = tuple(Size)
SUPPORTED_OPCODES: frozenset[int] = frozenset(
    [c | op | s for c in (Cls.ALU64, Cls.ALU) for op in _ALU_OPS for s in Src]
    + [Cls.ALU64 | AluOp.NEG, Cls.ALU | AluOp.NEG, Cls.ALU | AluOp.END | Src.X]  # no bswap, no to-le
    + [Cls.LD | Mode.IMM | Size.DW]
    + [Cls.LD | m | s for m in (Mode.ABS, Mode.IND) for s in (Size.B, Size.H, Size.W)]
    + [Cls.LDX | Mode.MEM | s for s in _SIZES] + [Cls.STX | Mode.MEM | s for s in _SIZES]
    + [Cls.ST | Mode.MEM | s for s in _SIZES] + [Cls.STX | Mode.ATOMIC | s for s in (Size.W, Size.DW)]
    + [Cls.JMP | JmpOp.JA]  # JMP32 JA (gotol) has no emitter, nor JCOND (may_goto): instr_cb predates both
    + [c | op | s for c in (Cls.JMP, Cls.JMP32) for op in _COND_JMPS for s in Src]
    + [Cls.JMP | JmpOp.CALL, Cls.JMP | JmpOp.EXIT])


def unsupported_opcode(code: int) -> str | None:
    return None if code in SUPPORTED_OPCODES else message("opcode", code=code)


# -- helpers and their stack arguments ---------------------------------------------------------------
def unsupported_helper(func_id: int) -> str:
    return message("helper", func_id=func_id)


def stack_arg_refusal(fname: str, reg_type: int, offset: int | None) -> str | None:
    """nfp_bpf_stack_arg_ok: why the driver refuses a helper's pointer argument, or None.

    `reg_type` is the kernel's enum bpf_reg_type of the register, `offset` its byte
    offset from the frame pointer (None when not constant).  The argument must
    point to the stack at a constant offset that is a multiple of 4.
    """
    if reg_type != PTR_TO_STACK:
        return message("stack_arg_type", fname=fname, reg_type=reg_type)
    if offset is None:
        return message("stack_arg_var", fname=fname)
    if -offset % 4:
        return message("stack_arg_align", fname=fname, offset=-offset)
    return None


# -- maps: offload.c nfp_bpf_map_alloc -------------------------------------------------------------------
OFFLOAD_NEUTRAL = frozenset({MapType.PERF_EVENT_ARRAY})  # bpf_map_offload_neutral: stays on the host
CORE_OFFLOADABLE = frozenset({MapType.HASH, MapType.ARRAY})  # kernel/bpf/offload.c bpf_map_offload_map_alloc


def _round8(n: int) -> int:
    return -(-n // 8) * 8


def map_refusals(maps: Iterable[MapDef], firmware: Firmware = DEFAULT_FIRMWARE) -> list[tuple[str, str]]:
    """(map name, the driver's message) for each map the device would not create, in creation order.

    The element budget and the map count are the device's, shared by the maps created
    before; a refused map takes nothing from them.
    """
    out: list[tuple[str, str]] = []
    maps_in_use = elems_in_use = 0
    for mapdef in maps:
        if mapdef.type in OFFLOAD_NEUTRAL:
            continue
        key, value = mapdef.key_size, mapdef.value_size
        checks = (
            (mapdef.type not in CORE_OFFLOADABLE, "map_core_type", dict(type=mapdef.type.kernel_name)),
            # libbpf creates global data maps with flags (BPF_F_MMAPABLE, BPF_F_RDONLY_PROG)
            (bool(mapdef.flags) or mapdef.is_global_data, "map_flags", {}),
            (mapdef.type not in firmware.map_types, "map_type", {}),
            (maps_in_use == firmware.max_maps, "map_count", {}),
            (firmware.max_elems - elems_in_use < mapdef.max_entries, "map_elems",
             dict(entries=mapdef.max_entries, left=firmware.max_elems - elems_in_use)),
            (_round8(key) + _round8(value) > firmware.max_elem, "map_elem_size",
             dict(size=_round8(key) + _round8(value), fw=firmware.max_elem)),
            (key > firmware.max_key, "map_key", dict(size=key, fw=firmware.max_key)),
            (value > firmware.max_value, "map_value", dict(size=value, fw=firmware.max_value)),
        )
        refusal = next((message(k, **f) for failed, k, f in checks if failed), None)
        if refusal:
            out.append((mapdef.name, refusal))
            continue
        maps_in_use += 1
        elems_in_use += mapdef.max_entries
    return out


# -- the stack: verifier.c nfp_bpf_finalize ------------------------------------------------------------------
STACK_FRAME_ALIGN = 64  # main.h
RETURN_ADDRESS = 4  # REG_WIDTH: a callee's frame holds its return address
CALLEE_SAVED = 32  # BPF_REG_SIZE * 4: a callee that writes r6-r9 saves them in its frame


def frame_bytes(depth: int, callee: bool, saves_r6_r9: bool) -> int:
    """One frame as nfp_bpf_finalize counts it, before the 64-byte rounding of the walk."""
    if not callee:
        return depth
    return depth + RETURN_ADDRESS + (CALLEE_SAVED if saves_r6_r9 else 0)


def stack_usage(frames: dict[int, int], calls: dict[int, Iterable[int]], sub: int = 0) -> int:
    """nfp_bpf_get_stack_usage: the deepest call chain from `sub`, each frame rounded up to 64 bytes."""
    here = -(-frames.get(sub, 0) // STACK_FRAME_ALIGN) * STACK_FRAME_ALIGN
    return here + max((stack_usage(frames, calls, callee) for callee in calls.get(sub, ())), default=0)


# -- the control-message channel: bpf/fw.h, ccm.h, bpf/cmsg.c, bpf/offload.c ----------------------------
# The host reaches the card's maps only through control messages on the control vNIC: one request,
# one reply matched by its tag (ccm.c nfp_ccm_communicate).  nfp/cmsg.py lays them out.
class CcmType:
    """enum nfp_ccm_type (ccm.h; enum nfp_bpf_cmsg_type CMSG_TYPE_* in the older fw.h)."""

    MAP_ALLOC, MAP_FREE, MAP_LOOKUP, MAP_UPDATE, MAP_DELETE, MAP_GETNEXT, MAP_GETFIRST, BPF_EVENT = range(1, 9)


CCM_TYPE_NAMES = {v: k for k, v in vars(CcmType).items() if k.isupper()}
CCM_ABI_VERSION = 1  # NFP_CCM_ABI_VERSION: every header's `ver`; nfp_bpf_event_output drops other versions
CCM_REPLY_BIT = 7  # NFP_CCM_TYPE_REPLY_BIT: a reply's type is BIT(7) | the request's


def ccm_reply_type(request_type: int) -> int:
    return 1 << CCM_REPLY_BIT | request_type


class CmsgRc:
    """enum nfp_bpf_cmsg_status (fw.h): the firmware's reply codes (nic-firmware cmsg_map_types.h agrees)."""

    SUCCESS, ERR_MAP_FD, ERR_MAP_NOENT, ERR_MAP_ERR, ERR_MAP_PARSE, ERR_MAP_EXIST, ERR_MAP_NOMEM, ERR_MAP_E2BIG = range(8)


EBADFD, ENOENT, EINVAL, EIO, EEXIST, ENOMEM, E2BIG, ETIMEDOUT = 77, 2, 22, 5, 17, 12, 7, 110
# cmsg.c nfp_bpf_ctrl_rc_to_errno: reply code -> the errno the driver returns (a code past the table: -EIO,
# "FW responded with invalid status: %u")
RC_ERRNO = {CmsgRc.SUCCESS: 0, CmsgRc.ERR_MAP_FD: -EBADFD, CmsgRc.ERR_MAP_NOENT: -ENOENT, CmsgRc.ERR_MAP_ERR: -EINVAL,
            CmsgRc.ERR_MAP_PARSE: -EIO, CmsgRc.ERR_MAP_EXIST: -EEXIST, CmsgRc.ERR_MAP_NOMEM: -ENOMEM,
            CmsgRc.ERR_MAP_E2BIG: -E2BIG}
# main.c nfp_bpf_init: a firmware without an ABI-version TLV is ABI 2 (nfp_bpf_init_capabilities), and below
# ABI 3 every key and value travels in a fixed slot of CMSG_MAP_KEY_LW / CMSG_MAP_VALUE_LW words (fw.h);
# nic-firmware's ebpf.uc advertises no ABI TLV and its cmsg_map.uc steps 64 bytes per key and per value.
BPF_ABI_VERSION = 2
CMSG_KEY_SLOT = CMSG_VALUE_SLOT = 16 * 4
CMSG_ENTRIES_PER_OP = 1  # no NFP_BPF_CAP_TYPE_CMSG_MULTI_ENT: cmsg_cache_cnt = 1 (main.c nfp_bpf_ndo_init)
BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2  # uapi: map update flags

# Driver-side rules of the map operations, before or instead of a message, with the errno each returns.
MAP_OP_RULES: dict[str, Rule] = {r.key: r for r in (
    Rule("update_flags", "update flags {flags:#x} > BPF_EXIST", "kernel/bpf/offload.c bpf_map_offload_update_elem", "EINVAL"),
    Rule("flags_64", "FW messages have no space for more than 32 bits of flags", "cmsg.c nfp_bpf_ctrl_entry_op",
         "EOPNOTSUPP"),
    Rule("array_delete", "array elements cannot be deleted", "offload.c nfp_bpf_map_delete_elem", "EINVAL"),
    Rule("reply_type", "cmsg drop - wrong type {got:#04x} != {want:#04x}!", "ccm.c nfp_ccm_communicate", "EIO"),
    Rule("reply_short", "cmsg drop - type {type:#04x} too short {len}!", "cmsg.c nfp_bpf_ctrl_entry_op", "EIO"),
    Rule("reply_size", "cmsg drop - type {type:#04x} too short {len} for {entries} entries!", "cmsg.c nfp_bpf_ctrl_entry_op",
         "EIO"),
    Rule("reply_rc", "FW responded with invalid status: {rc}", "cmsg.c nfp_bpf_ctrl_rc_to_errno", "EIO"),
    Rule("reply_tag", "cmsg drop - no one is waiting for tag {tag}!", "ccm.c nfp_ccm_rx", "ETIMEDOUT"),
    Rule("event_short", "perf event: message of {len} bytes, shorter than its header or payload",
         "offload.c nfp_bpf_event_output", "EINVAL"),
    Rule("event_version", "perf event: ABI version {ver}", "offload.c nfp_bpf_event_output", "EINVAL"),
    Rule("event_map", "perf event: map id {id} ({id:#x}) not recognized, dropping event", "offload.c nfp_bpf_event_output",
         "EINVAL"),
)}


# -- the datapath around the program (CoreNIC: firmware/apps/nic/) ----------------------------------------------
# Action order for a packet from the wire with a BPF program loaded (app_config_tables.c, the list at its top):
# RX_WIRE -> CHECKSUM -> BPF -> RSS -> TX_HOST.  So only packets the program passes reach RSS and a host queue,
# hashed as the program left them; XDP_DROP ends on the card, XDP_TX leaves by the ingress port.
DATAPATH_ORDER = ("rx_wire", "checksum", "bpf", "rss", "tx_host")
# jit.c nfp_outro_xdp: the verdict picks the firmware's action and one of four app counters, which the
# driver's ethtool -S names (nfp_net_ethtool.c nfp_net_et_stats: APP0 = bpf_pass_*, APP1-3 = bpf_app1-3_*);
# a return code above XDP_TX (XDP_REDIRECT included) aborts: "unknown 0x82 -> drop, count as stat3".
VERDICT_STATS = {"XDP_PASS": "bpf_pass", "XDP_DROP": "bpf_app1", "XDP_TX": "bpf_app2", "XDP_ABORTED": "bpf_app3"}
CARD_VERDICTS = ("XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX")  # return codes 0..3; anything else aborts
# nfp_vnic_get_hw_stats_strings: per host queue; nfp_mac_et_stats: per physical port
QUEUE_STATS = ("rxq_{q}_pkts", "rxq_{q}_bytes")
PORT_STATS = ("rx_frames_received_ok", "rx_octets", "tx_frames_transmitted_ok", "tx_octets", "rx_undersize_pkts")
# RSS (actions.uc __actions_rss; nfd_user_cfg.h NFD_RSS_HASH_FUNC = NFP_NET_CFG_RSS_CRC32, which
# nfp_net_rss_init selects as the first function NFP_NET_CFG_RSS_CAP offers): CRC-32 from a 32-bit key
# word, the first word of the driver's 40-byte key (cfg_act_append_rss: instr_rss.key = rss_key[0]; the
# driver writes each word as get_unaligned_le32 of the key's bytes, nfp_net_rss_write_key), over L3
# addresses always and L4 ports for TCP and UDP over IPv4 and IPv6 (nfp_net_rss_init enables all four);
# queue = the 128-entry table (ethtool_rxfh_indir_default) at hash & 127.
RSS_HASH = "crc32"
RSS_KEY_BYTES = 40  # NFP_NET_CFG_RSS_KEY_SZ


def rss_key_word(key: bytes) -> int:
    return int.from_bytes(key[:4], "little")


# Queue selection (actions.uc __actions_rss, rss.rst): a program that wrote rx_queue_index sets
# PV_QUEUE_SELECTED and RSS is skipped, unless the queue exceeds the vNIC's rings (max_queue, from the
# enabled-rings mask), when "normal RSS processing is performed".
