"""Loads through a map pointer: the fields of the kernel's own struct behind the map.

Linux 6.18 kernel/bpf/verifier.c check_ptr_to_map_access: a privileged program may read
(never write) the struct the map's ops name (`struct bpf_array` for an array, `struct
bpf_htab` for a hash ...: platform/maps.py MAP_KERNEL_STRUCT), walked in the kernel's BTF
as a load through a plain PTR_TO_BTF_ID is (btf_struct_access; verifier btf_ptr.py): a
scalar field gives an unknown scalar, a pointer field a BTF pointer of its struct, with
only the flags the walk itself gives (through a union: untrusted).
"""

from __future__ import annotations

from ..errors import XdpError
from ..platform.maps import MAP_KERNEL_STRUCT
from .result import Reject
from .state import Reg, RegType


def load(ck, regno: int, base: Reg, off: int, size: int, write: bool) -> Reg:
    """check_ptr_to_map_access for a load (or refused store) of `size` bytes at `off`."""
    mapdef = base.map
    name = MAP_KERNEL_STRUCT.get(mapdef.type)
    if name is None:
        raise XdpError(f"verifier: loads through a pointer to the {mapdef.type.kernel_name} map {mapdef.name} "
                       "are not implemented (its kernel struct is not recorded)")
    if not ck.profile.allow_ptr_leaks:
        raise Reject(f"'struct {name}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")
    if off < 0:
        raise Reject(f"R{regno} is {name} invalid negative access: off={off}")
    if write:
        raise Reject(f"only read from {name} is supported")
    what = f"a load through the map pointer of {mapdef.name} (struct {name})"
    types = ck.btf_ptrs.types(what)
    kt = types.struct(name, what)
    target, by_union, tag, _ = types.access(kt.id, off, size)
    if not target:
        return Reg.shared_unknown(size)
    if target < 0:  # a pointer to something other than a struct
        return Reg.pointer(RegType.RDONLY_UNTRUSTED_MEM)
    if tag:
        raise XdpError(f"verifier: loads of __{tag} pointers out of struct {name} are not implemented")
    return Reg.pointer(RegType.UNTRUSTED_BTF_ID if by_union else RegType.BTF_ID, btf_type=types.ktype(target))
