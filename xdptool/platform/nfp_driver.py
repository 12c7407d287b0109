"""The kernel NFP driver's rules as data, with its messages.

From drivers/net/ethernet/netronome/nfp/bpf/: verifier.c
(nfp_bpf_check_helper_call, nfp_bpf_stack_arg_ok), offload.c
(nfp_bpf_map_alloc) and the firmware's capabilities; summarised in
/work/shared/nfp-facts.md.  Everything that applies these rules reads them
here: the verifier's `nfp` profile (xdptool/verifier/nfp_rules.py), which
decides what the card accepts, and the offload pipeline (check.py, lower.py),
which must refuse the same programs the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .maps import MapType

if TYPE_CHECKING:
    from ..elf.model import MapDef


PTR_TO_STACK = 6  # enum bpf_reg_type (include/linux/bpf.h)


def unsupported_helper(func_id: int) -> str:
    return f"unsupported function id: {func_id}"


def stack_arg_refusal(fname: str, reg_type: int, offset: int | None) -> str | None:
    """nfp_bpf_stack_arg_ok: why the driver refuses a helper's pointer argument, or None.

    `reg_type` is the kernel's enum bpf_reg_type of the register, `offset` its byte
    offset from the frame pointer (None when not constant).  The argument must
    point to the stack at a constant offset that is a multiple of 4.
    """
    if reg_type != PTR_TO_STACK:
        return f"{fname}: unsupported ptr type {reg_type}"
    if offset is None:
        return f"{fname}: variable pointer"
    if -offset % 4:
        return f"{fname}: unaligned stack pointer {-offset}"
    return None


# offload.c nfp_bpf_map_alloc with the public firmware's capabilities
MAP_TYPES = frozenset({MapType.HASH, MapType.ARRAY})
MAX_MAPS, MAX_KEY, MAX_VALUE, MAX_ELEM = 128, 56, 56, 64


def too_many_maps(count: int) -> str | None:
    return f"too many maps for a device: {count} > {MAX_MAPS}" if count > MAX_MAPS else None


def map_refusal(mapdef: MapDef) -> str | None:
    """Why nfp_bpf_map_alloc refuses the map, in its order; None when the card takes it."""
    if mapdef.flags or mapdef.is_global_data:  # libbpf creates global data with flags
        return f"map flags are not supported ({mapdef.flags:#x})"
    if mapdef.type not in MAP_TYPES:
        return f"map type {mapdef.type.kernel_name} ({int(mapdef.type)}) not supported by the NFP offload"
    elem = -(-mapdef.key_size // 8) * 8 + -(-mapdef.value_size // 8) * 8
    if elem > MAX_ELEM:
        return f"map elements too large: {elem}, FW max element size (key+value): {MAX_ELEM}"
    if mapdef.key_size > MAX_KEY:
        return f"map key size {mapdef.key_size}, FW max is {MAX_KEY}"
    if mapdef.value_size > MAX_VALUE:
        return f"map value size {mapdef.value_size}, FW max is {MAX_VALUE}"
    return None
