"""BTF-typed kernel pointers (PTR_TO_BTF_ID): kernel objects typed by the kernel's own BTF.

A register of one of state.BTF_ID_TYPES points to a kernel struct, `reg.btf_type` (a KType
of the kernel's vmlinux BTF), and its type says how far the program may trust it, as the
kernel's type flags do: trusted (PTR_TRUSTED: bpf_get_current_task_btf, bpf_cast_to_kern_ctx),
rcu (MEM_RCU: a field the kernel lists as RCU-safe, read inside the RCU section every XDP
program runs in), untrusted (PTR_UNTRUSTED: any other pointer read out of an object, and
bpf_rdonly_cast; readable, never passed on) and plain `ptr_` (a kfunc's acquired reference,
which is trusted because it is referenced, and bpf_skc_to_*'s casts).

What is checked, as Linux 6.18 does (kernel/bpf/verifier.c check_ptr_to_btf_access,
check_kfunc_call, check_kfunc_args, process_kf_arg_ptr_to_btf_id, is_trusted_reg,
btf_check_func_arg_match; kernel/bpf/btf.c btf_struct_access, btf_struct_walk,
btf_struct_ids_match, btf_nested_type_is_trusted, btf_get_ptr_to_btf_id): loads through
such pointers walk the struct by offset (a scalar, or a pointer whose trust follows from the
field), stores are refused, kfunc arguments must be trusted (or RCU) pointers of the right
struct, acquired references must be released and NULL-checked (the reference tracking is
the checker's: _acquire_reference, _release_reference, _check_reference_leak).  Where 6.18
differs from its 6.12 sources (a pointer walked out of a trusted object with no safe-list
entry is untrusted, not plain) the running kernel was asked.

The types come from the kernel's BTF: the running kernel's (/sys/kernel/btf/vmlinux) unless
the user names a file (`verify --btf FILE`); without one, a program that needs them is not
verified (exit 2).
"""

from __future__ import annotations

from ..elf.btf import MODIFIER_KINDS, VMLINUX_BTF, BTF, Kind, btf_file
from ..errors import ObjectFormatError, XdpError
from ..platform.helpers import Helper, Ret
from ..platform.kfuncs import KF, Kfunc, P, param_struct
from .result import Reject
from .state import NOT_INIT, Reg, RegType

T_BTF_ID, T_BTF_ID_OR_NULL = RegType.BTF_ID, RegType.BTF_ID_OR_NULL
T_TRUSTED, T_TRUSTED_OR_NULL = RegType.TRUSTED_BTF_ID, RegType.TRUSTED_BTF_ID_OR_NULL
T_RCU, T_RCU_OR_NULL = RegType.RCU_BTF_ID, RegType.RCU_BTF_ID_OR_NULL
T_UNTRUSTED = RegType.UNTRUSTED_BTF_ID
T_RDONLY_UNTRUSTED_MEM = RegType.RDONLY_UNTRUSTED_MEM
# what a load or store through the register checks here (check_mem_access's PTR_TO_BTF_ID case, and
# PTR_TO_MEM's for untrusted read-only memory)
ACCESS_TYPES = frozenset({T_BTF_ID, T_TRUSTED, T_RCU, T_UNTRUSTED, T_RDONLY_UNTRUSTED_MEM})

NEEDS_BTF = f"needs the kernel's BTF ({VMLINUX_BTF}, or --btf FILE)"
MAX_RESOLVE_DEPTH = 32  # btf.c
# the ctx an XDP program's bpf_cast_to_kern_ctx gives (bpf_ctx_convert: xdp_md -> xdp_buff)
XDP_KERN_CTX = "xdp_buff"
# register types a `struct X *` kfunc argument takes as a BTF object (base PTR_TO_BTF_ID)
FIXED_OFF_OK = frozenset({T_BTF_ID, T_TRUSTED, T_RCU})  # check_func_arg_reg_off: a fixed offset is allowed
# check_reg_type's compatible types for a global function's arg:trusted (btf_ptr_types)
_GLOBAL_TRUSTED_OK = frozenset({T_BTF_ID, T_TRUSTED, T_RCU})
_GLOBAL_TRUSTED_EXPECTED = "ptr_, trusted_ptr_, rcu_ptr_"
_SOCKETS = frozenset({RegType.SOCKET, RegType.SOCK_COMMON, RegType.XDP_SOCK})  # reg2btf_ids
_NULLABLE_OF = {T_BTF_ID: T_BTF_ID_OR_NULL, T_TRUSTED: T_TRUSTED_OR_NULL, T_RCU: T_RCU_OR_NULL}
# the type tags btf_struct_walk reads on a pointer member (all but rcu need machinery xdptool lacks)
_TAGS = {"user": "MEM_USER", "percpu": "MEM_PERCPU", "rcu": "MEM_RCU"}


class KType:
    """A struct (or union) of the kernel's BTF that BTF pointers point to; one object per
    type id, so registers compare them by identity."""

    __slots__ = ("id", "name", "kind")

    def __init__(self, type_id: int, name: str, kind: Kind):
        self.id, self.name, self.kind = type_id, name, kind

    @property
    def kind_text(self) -> str:
        """btf_type_str: how messages name the kind."""
        return self.kind.name


class KernelTypes:
    """The kernel's BTF as the verifier asks it: struct walks, type matches, the safe lists."""

    def __init__(self, btf: BTF, path: str):
        self.btf, self.path = btf, path
        self._ktypes: dict[int, KType] = {}
        self._by_name: dict[tuple[str, Kind], list[int]] | None = None

    def ktype(self, type_id: int) -> KType:
        kt = self._ktypes.get(type_id)
        if kt is None:
            t = self.btf.type(type_id)
            kt = self._ktypes[type_id] = KType(type_id, t.name, t.kind)
        return kt

    def named(self, name: str, kind: Kind = Kind.STRUCT) -> list[int]:
        """Ids of every type called `name` of `kind`."""
        if self._by_name is None:
            index: dict[tuple[str, Kind], list[int]] = {}
            for t in self.btf.types[1:]:
                if t.name:
                    index.setdefault((t.name, t.kind), []).append(t.id)
            self._by_name = index
        return self._by_name.get((name, kind), [])

    def struct(self, name: str, what: str) -> KType:
        """The kernel's `struct name` (for `what`, in the message when the BTF lacks it)."""
        ids = self.named(name)
        if not ids:
            raise XdpError(f"verifier: {what}: the kernel's BTF ({self.path}) has no struct {name}")
        return self.ktype(ids[0])

    def skip_modifiers(self, type_id: int) -> int:
        """btf_type_skip_modifiers: the id behind typedef/const/volatile/restrict/type_tag."""
        for _ in range(MAX_RESOLVE_DEPTH):
            t = self.btf.type(type_id)
            if t.kind not in MODIFIER_KINDS:
                return type_id
            type_id = t.type
        return type_id

    # -- btf_struct_access / btf_struct_walk ----------------------------------------------------
    def access(self, type_id: int, off: int, size: int) -> tuple[int, int, str, str]:
        """btf_struct_access for a load of `size` bytes at `off`: (0, ...) a scalar, or
        (target struct id, 0/1 untrusted-by-union, the pointer's type tag, the field's name);
        target -1: a pointer to something else than a struct (Linux 6.18: untrusted memory)."""
        untrusted = False
        t_id = type_id
        for _ in range(MAX_RESOLVE_DEPTH * 4):
            kind, result, untrusted, tag, field = self._walk(t_id, off, size, untrusted)
            if kind == "scalar":
                return 0, 0, "", ""
            if kind == "ptr":
                return result, int(untrusted), tag, field
            t_id, off = result, 0  # a nested struct starts at the offset: walk into it
        raise Reject("verifier internal error: struct walk too deep")

    def _resolve_size(self, type_id: int):
        """__btf_resolve_size: (type or the outermost array, total size, element, element id,
        element count); the element id is only followed through modifiers, as the kernel's."""
        array = None
        nelems, elem_id = 1, 0
        t = self.btf.type(type_id)
        for _ in range(MAX_RESOLVE_DEPTH):
            if t.kind in (Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.FLOAT, Kind.ENUM64):
                return array or t, nelems * t.size, t, elem_id, nelems
            if t.kind is Kind.PTR:
                return array or t, nelems * 8, t, elem_id, nelems
            if t.kind in MODIFIER_KINDS:
                elem_id = t.type
                t = self.btf.type(t.type)
            elif t.kind is Kind.ARRAY:
                array = array or t
                nelems *= t.array[2]
                t = self.btf.type(t.array[0])
            else:
                return None
        return None

    def _walk(self, type_id: int, off: int, size: int, untrusted: bool):
        """btf_struct_walk (walk_flex_arrays): ("scalar"|"struct"|"ptr", next id, untrusted, tag, field)."""
        t = self.btf.type(type_id)
        for _ in range(MAX_RESOLVE_DEPTH * 4):
            if t.kind in MODIFIER_KINDS:
                t = self.btf.type(self.skip_modifiers(t.type))
            tname = t.name if t.id else ""  # (type 0, void, has no name in the kernel's messages)
            if t.kind not in (Kind.STRUCT, Kind.UNION):
                raise Reject(f"Type '{tname}' is not a struct")
            if t.kind is Kind.UNION and len(t.members) != 1:
                untrusted = True  # walking unions yields untrusted pointers (but __bpf_md_ptr's)
            if off + size > t.size:
                flex = self._flex_array(t, off)
                if flex is None:
                    raise Reject(f"access beyond struct {tname} at off {off} size {size}")
                if flex[0] == "scalar":
                    return "scalar", 0, untrusted, "", ""
                t, off = flex[1], flex[2]
                continue
            step = self._member_at(t, tname, off, size, untrusted)
            if step[0] != "again":
                return step[0], step[1], untrusted, step[2], step[3]
            t, off = step[1], step[2]
        raise Reject("verifier internal error: struct walk too deep")

    def _flex_array(self, t, off: int):
        """The relaxation for a trailing flexible array: ("scalar",) or ("again", struct, off)."""
        if not t.members:
            return None
        member = t.members[-1]
        mtype = self.btf.type(self.skip_modifiers(member.type))
        if mtype.kind is not Kind.ARRAY or mtype.array[2] != 0:
            return None
        moff = member.bit_offset // 8
        if off < moff:
            return None
        elem = self.btf.type(self.skip_modifiers(mtype.array[0]))
        if elem.kind is Kind.INT:
            return ("scalar",)
        if elem.kind not in (Kind.STRUCT, Kind.UNION) or not elem.size:
            return None
        return ("again", elem, (off - moff) % elem.size)

    def _member_at(self, t, tname: str, off: int, size: int, untrusted: bool):
        """One pass over the members of `t` (btf_struct_walk's loop)."""
        for member in t.members:
            moff = member.bit_offset // 8
            if off + size <= moff:
                break
            if member.bitfield_size:
                end_bit = member.bit_offset + member.bitfield_size
                if off <= moff and -(-end_bit // 8) <= off + size:
                    return ("scalar", 0, "", "")
                continue
            if off < moff:
                break
            mid = member.type
            resolved = self._resolve_size(member.type)
            if resolved is None:
                raise Reject(f"field {member.name} doesn't have size")
            mtype, msize, elem, elem_id, nelems = resolved
            if elem_id:
                mid = elem_id
            mtrue_end = moff + msize
            if off >= mtrue_end:
                continue
            if mtype.kind is Kind.ARRAY:
                if moff == mtrue_end:
                    continue
                msize //= nelems
                moff += (off - moff) // msize * msize
                mtype, mid = elem, elem_id
            if mtype.kind in (Kind.STRUCT, Kind.UNION):
                if off == moff:
                    return ("struct", mid, "", "")
                return ("again", mtype, off - moff)
            if mtype.kind is Kind.PTR:
                if msize != size or off != moff:
                    raise Reject(f"cannot access ptr member {member.name} with moff {moff} in struct {tname} "
                                 f"with off {off} size {size}")
                first = self.btf.type(mtype.type)
                tag = first.name if first.kind is Kind.TYPE_TAG and first.name in _TAGS else ""
                target = self.skip_modifiers(mtype.type)
                if self.btf.type(target).kind in (Kind.STRUCT, Kind.UNION):
                    return ("ptr", target, tag, member.name)
                return ("ptr", -1, tag, member.name)  # (6.18, as asked: void *, int *)
            if off + size > mtrue_end and not untrusted:
                raise Reject(f"access beyond the end of member {member.name} (mend:{mtrue_end}) in struct {tname} "
                             f"with off {off} size {size}")
            return ("scalar", 0, "", "")
        raise Reject(f"struct {tname} doesn't have field at offset {off}")

    # -- type matches ---------------------------------------------------------------------------
    def mismatch(self, type_id: int, off: int, need_id: int, strict: bool) -> str | None:
        """btf_struct_ids_match: None when the object at `off` of `type_id` is (or starts with)
        a `need_id`, else what the walk logged on the way ("" or lines ending in a newline)."""
        if off == 0 and type_id == need_id:
            return None
        if strict:
            return ""
        for _ in range(MAX_RESOLVE_DEPTH):
            try:
                kind, next_id, _, _, _ = self._walk(type_id, off, 1, False)
            except Reject as reject:
                return reject.message + "\n"
            if kind != "struct":
                return ""
            if next_id == need_id:
                return None
            type_id, off = next_id, 0
        return ""

    def safe_field(self, outer: KType, field: str, target_id: int, suffix: str) -> bool:
        """btf_nested_type_is_trusted: the kernel lists `field` of `outer` (a pointer to the
        struct `target_id`) in its `<outer>__safe_<suffix>` struct (BTF_TYPE_SAFE_*)."""
        for safe_id in self.named(outer.name + suffix, outer.kind)[:1]:
            for member in self.btf.type(safe_id).members:
                mtype = self.btf.type(member.type)
                if mtype.kind is Kind.PTR and member.name == field and self.skip_modifiers(mtype.type) == target_id:
                    return True
        return False

    def is_scalar_struct(self, type_id: int, depth: int = 0) -> bool:
        """__btf_type_is_scalar_struct: a struct of scalars and arrays of them, nested at most 3 deep."""
        t = self.btf.type(self.skip_modifiers(type_id))
        if t.kind is not Kind.STRUCT:
            return False
        for member in t.members:
            m = self.btf.type(self.skip_modifiers(member.type))
            if m.kind is Kind.STRUCT:
                if depth >= 3 or not self.is_scalar_struct(m.id, depth + 1):
                    return False
                continue
            if m.kind is Kind.ARRAY:
                m = self.btf.type(self.skip_modifiers(m.array[0]))
            if m.kind not in (Kind.INT, Kind.ENUM):
                return False
        return True


_TYPES: dict[str, KernelTypes] = {}


def kernel_types(path: str | None, what: str) -> KernelTypes:
    """The kernel's types, from `path` (None: the running kernel's), parsed once per process;
    `what` needs them (named in the exit-2 message when there are none)."""
    path = path or VMLINUX_BTF
    types = _TYPES.get(path)
    if types is None:
        try:
            types = _TYPES[path] = KernelTypes(btf_file(path), path)
        except OSError as error:
            raise XdpError(f"verifier: {what} {NEEDS_BTF}; {path}: {error.strerror}") from None
        except ObjectFormatError as error:
            raise XdpError(f"verifier: {what} {NEEDS_BTF}; {path}: {error}") from None
    return types


# -- what a register may be trusted with (is_trusted_reg, is_rcu_reg) ------------------------------
def is_trusted(reg: Reg) -> bool:
    """is_trusted_reg: referenced, or PTR_TRUSTED without another flag."""
    return bool(reg.ref_obj_id) or reg.type is T_TRUSTED


def is_rcu(reg: Reg) -> bool:
    return reg.type is T_RCU or reg.type is T_RCU_OR_NULL


def not_null(reg: Reg) -> bool:
    """reg_not_null's BTF case: a trusted object is never NULL (a comparison with 0 is decided)."""
    return not reg.type.maybe_null and is_trusted(reg)


class BtfPointers:
    """The checker's BTF-pointer rules; `ck` is the verifier.checker.Checker they serve."""

    def __init__(self, ck, btf_path: str | None, gpl_compatible: bool):
        self.ck = ck
        self.btf_path = btf_path
        self.gpl_compatible = gpl_compatible

    def types(self, what: str) -> KernelTypes:
        return kernel_types(self.btf_path, what)

    # -- loads and stores (check_ptr_to_btf_access) --------------------------------------------
    def access(self, regno: int, base: Reg, off: int, size: int, write: bool) -> Reg | None:
        ck = self.ck
        if base.type is T_RDONLY_UNTRUSTED_MEM:  # probe-read memory: no bounds, no writes
            if write:
                raise Reject(f"R{regno} cannot write into {base.type.value}")
            return Reg.shared_unknown(size)
        kt = base.btf_type
        if not ck.profile.allow_ptr_leaks:
            raise Reject(f"'struct {kt.name}' access is allowed only to CAP_PERFMON and CAP_SYS_ADMIN")
        if not self.gpl_compatible:
            raise Reject(f"Cannot access kernel 'struct {kt.name}' from non-GPL compatible program")
        if off < 0:
            raise Reject(f"R{regno} is ptr_{kt.name} invalid negative access: off={off}")
        if not base.is_const or base.const_value:
            raise Reject(f"R{regno} is ptr_{kt.name} invalid variable offset: off={off}, var_off={base.var_off}")
        if write:
            if base.type is T_UNTRUSTED or kt.name != "nf_conn":
                raise Reject("only read is supported")  # xdp_btf_struct_access: only nf_conn's mark
            raise XdpError("verifier: writes into struct nf_conn (nfct_btf_struct_access) are not implemented")
        types = self.types(f"a load through {base.type.value}{kt.name}")
        target, by_union, tag, field = types.access(kt.id, off, size)
        if not target:
            return Reg.shared_unknown(size)
        if target < 0:
            return Reg.pointer(T_RDONLY_UNTRUSTED_MEM)
        new_type = self._walked_type(types, base, kt, target, bool(by_union), tag, field)
        reg = Reg.pointer(new_type, btf_type=types.ktype(target))
        if new_type.maybe_null:
            reg.id = ck.new_id()
        return reg

    @staticmethod
    def _walked_type(types: KernelTypes, base: Reg, kt: KType, target: int, by_union: bool, tag: str,
                     field: str) -> RegType:
        """The trust of a pointer read out of an object (check_ptr_to_btf_access; an XDP
        program is never sleepable, so it always runs inside an RCU section)."""
        if tag in ("user", "percpu"):
            raise XdpError(f"verifier: loads of __{tag} pointers ({_TAGS[tag]}) out of kernel objects "
                           "are not implemented")
        if base.type is T_UNTRUSTED or by_union:
            return T_UNTRUSTED
        if not (is_trusted(base) or is_rcu(base)):
            return T_BTF_ID  # old, unflagged pointers walk into unflagged ones
        if types.safe_field(kt, field, target, "__safe_trusted"):
            return T_TRUSTED
        if types.safe_field(kt, field, target, "__safe_trusted_or_null"):
            return T_TRUSTED_OR_NULL
        if types.safe_field(kt, field, target, "__safe_rcu"):
            return T_RCU
        if tag == "rcu" or types.safe_field(kt, field, target, "__safe_rcu_or_null"):
            return T_RCU_OR_NULL
        return T_UNTRUSTED  # Linux 6.18: walking other pointers yields untrusted ones

    # -- helpers ------------------------------------------------------------------------------
    def helper_return(self, helper: Helper, meta: dict) -> Reg:
        """R0 of a RET_PTR_TO_BTF_ID_* helper (check_helper_call)."""
        kt = self.types(f"{helper.full_name}'s result").struct(helper.ret_struct, helper.full_name)
        if helper.ret is Ret.BTF_ID_TRUSTED:
            return Reg.pointer(T_TRUSTED, btf_type=kt)
        reg = Reg.pointer(T_BTF_ID_OR_NULL, btf_type=kt, id=self.ck.new_id())
        if helper.casts_pointer:  # is_ptr_cast_function: the cast keeps the socket's reference
            reg.ref_obj_id = meta["ref_obj_id"]
        return reg

    def helper_access(self, regno: int, reg: Reg, size: int) -> None:
        """check_helper_mem_access of a trusted object: its bytes are read as fields are."""
        if size <= 0:
            raise XdpError(f"verifier: a {reg.type.value}{reg.btf_type.name} as helper memory of "
                           "possibly zero size is not implemented")
        self.access(regno, reg, reg.off, size, write=False)

    def sock_common_arg(self, regno: int, reg: Reg, release: bool) -> None:
        """ARG_PTR_TO_BTF_ID_SOCK_COMMON given a BTF pointer: it must be (or start with) a
        struct sock_common (check_reg_type; bpf_sk_release matches loosely)."""
        if reg.type.maybe_null:
            raise Reject(f"Possibly NULL pointer passed to helper arg{regno}")
        types = self.types("a socket helper's BTF-typed argument")
        need = types.struct("sock_common", "ARG_PTR_TO_BTF_ID_SOCK_COMMON")
        note = types.mismatch(reg.btf_type.id, reg.off, need.id, strict=False)
        if note is not None:
            raise Reject(f"{note}R{regno} is of type {reg.btf_type.name} but sock_common is expected")

    # -- kfuncs (check_kfunc_call, check_kfunc_args) ---------------------------------------------
    def kfunc_call(self, insn, kfunc: Kfunc) -> None:
        ck = self.ck
        name = kfunc.name
        if len(kfunc.params) > 5:
            raise Reject(f"Function {name} has {len(kfunc.params)} > 5 args")
        meta = {"ref_obj_id": 0, "release_regno": 0, "constant": None}
        trusted_args = bool(kfunc.flags & (KF.TRUSTED_ARGS | KF.RELEASE))
        rcu_args = bool(kfunc.flags & KF.RCU)
        regs = ck.state.regs
        for i, param in enumerate(kfunc.params):
            regno = i + 1
            reg = regs[regno]
            ck.scratched.add(regno)
            if param.kind is P.IGNORED:
                continue
            if param.kind in (P.SCALAR, P.CONST):
                if reg.type is not RegType.SCALAR:
                    raise Reject(f"R{regno} is not a scalar")
                if param.kind is P.CONST:
                    if not reg.is_const:  # (precise: precision.py counts every kfunc argument)
                        raise Reject(f"R{regno} must be a known constant")
                    meta["constant"] = reg.const_value
                continue
            if param.kind not in (P.BTF_PTR, P.CTX):
                raise XdpError(f"verifier: {param.kind.value} arguments of kfunc {name} are not implemented")
            is_null = reg.type is RegType.SCALAR and reg.is_const and reg.const_value == 0
            if (trusted_args or rcu_args) and (is_null or reg.type.maybe_null):
                raise Reject(f"Possibly NULL pointer passed to trusted arg{i}")
            if reg.ref_obj_id:
                meta["ref_obj_id"] = reg.ref_obj_id
                if kfunc.flags & KF.RELEASE:
                    meta["release_regno"] = regno
            if param.kind is P.CTX:
                self._ctx_arg(i, regno, reg)
                continue
            self._btf_arg(kfunc, i, regno, reg, trusted_args, rcu_args)
        if kfunc.flags & KF.RELEASE and not meta["release_regno"]:
            raise Reject(f"release kernel function {name} expects refcounted PTR_TO_BTF_ID")
        if meta["release_regno"]:
            ck._release_reference(regs[meta["release_regno"]].ref_obj_id, f"kfunc {name}#{insn.imm}")
        regs = ck.state.regs
        for r in range(1, 6):
            regs[r] = NOT_INIT
            ck.scratched.add(r)
        ck.scratched.add(0)
        regs[0] = self._kfunc_return(insn, kfunc, meta)

    def _ctx_arg(self, i: int, regno: int, reg: Reg) -> None:
        self.ck._check_arg_reg_off(regno, reg)
        if reg.type is not RegType.CTX:
            raise Reject(f"arg#{i} expected pointer to ctx, but got {reg.type.value}")

    def _btf_arg(self, kfunc: Kfunc, i: int, regno: int, reg: Reg, trusted_args: bool, rcu_args: bool) -> None:
        """KF_ARG_PTR_TO_BTF_ID (get_kfunc_ptr_arg_type, check_kfunc_args, process_kf_arg_ptr_to_btf_id)."""
        ck = self.ck
        struct = param_struct(kfunc.params[i])
        if reg.btf_type is None:  # not a BTF object: the catch-all memory argument (sockets are BTF objects)
            types = self.types(f"kfunc {kfunc.name}")
            need = types.struct(struct, f"kfunc {kfunc.name}")
            if reg.type not in _SOCKETS and not types.is_scalar_struct(need.id):
                raise Reject(f"arg#{i} pointer type STRUCT {struct} must point to scalar, or struct with scalar")
            raise XdpError(f"verifier: kfunc {kfunc.name} given a {reg.type.value} for its struct {struct} "
                           "argument is not implemented")
        if (trusted_args or rcu_args) and not is_trusted(reg):
            if not rcu_args:
                raise Reject(f"R{regno} must be referenced or trusted")
            if not is_rcu(reg):
                raise Reject(f"R{regno} must be a rcu pointer")
        release = bool(kfunc.flags & KF.RELEASE and reg.ref_obj_id)
        if release:
            ck._check_arg_reg_off(regno, reg, release=True)
        else:
            self.check_off(regno, reg)
        if reg.type is T_UNTRUSTED or (reg.type not in FIXED_OFF_OK and not is_rcu(reg)):
            raise Reject(f"arg#{i} is {reg.type.value} expected {_trusted_base(reg.type)} or socket")
        types = self.types(f"kfunc {kfunc.name}")
        need = types.struct(struct, f"kfunc {kfunc.name}")
        note = types.mismatch(reg.btf_type.id, reg.off, need.id, strict=release)
        if note is not None:
            raise Reject(f"{note}kernel function {kfunc.name} args#{i} expected pointer to STRUCT {struct} "
                         f"but R{regno} has a pointer to {reg.btf_type.kind_text} {reg.btf_type.name}")

    def check_off(self, regno: int, reg: Reg) -> None:
        """check_func_arg_reg_off for a BTF object: a fixed offset is fine, a variable one is not."""
        t = reg.type.value
        if reg.off < 0:
            raise Reject(f"negative offset {t} ptr R{regno} off={reg.off} disallowed")
        if reg.type not in FIXED_OFF_OK and reg.off:
            raise Reject(f"dereference of modified {t} ptr R{regno} off={reg.off} disallowed")
        if not reg.is_const or reg.const_value:
            raise Reject(f"variable {t} access var_off={reg.var_off} disallowed")

    def _kfunc_return(self, insn, kfunc: Kfunc, meta: dict) -> Reg:
        """R0 after the call (check_kfunc_call's return-type cases)."""
        ck = self.ck
        if kfunc.name == "bpf_cast_to_kern_ctx":
            kt = self.types(kfunc.name).struct(XDP_KERN_CTX, kfunc.name)
            return Reg.pointer(T_TRUSTED, btf_type=kt)
        if kfunc.name == "bpf_rdonly_cast":
            types = self.types(kfunc.name)
            type_id = meta["constant"]
            t = types.btf.types[type_id] if 0 <= type_id < len(types.btf.types) else None
            if t is not None and t.kind is Kind.VOID:
                return Reg.pointer(T_RDONLY_UNTRUSTED_MEM)
            if t is None or t.kind not in (Kind.STRUCT, Kind.UNION):
                raise Reject("kfunc bpf_rdonly_cast type ID argument must be of a struct or void")
            return Reg.pointer(T_UNTRUSTED, btf_type=types.ktype(type_id))
        if kfunc.flags & KF.ACQUIRE and not kfunc.returns_struct:
            raise Reject("acquire kernel function does not return PTR_TO_BTF_ID")
        if kfunc.returns_scalar:
            return Reg.shared_unknown()
        if kfunc.ret == "void":
            return NOT_INIT
        if not kfunc.returns_struct:
            raise XdpError(f"verifier: kfunc {kfunc.name} returning {kfunc.ret} is not implemented")
        kt = self.types(kfunc.name).struct(kfunc.returns_struct, kfunc.name)
        reg = Reg.pointer(T_BTF_ID, btf_type=kt)
        if kfunc.flags & KF.RET_NULL:
            reg.type = T_BTF_ID_OR_NULL
            reg.id = ck.new_id()
        if kfunc.flags & KF.ACQUIRE:
            ref = ck._acquire_reference(insn.pc)
            if kfunc.flags & KF.RET_NULL:
                reg.id = ref
            reg.ref_obj_id = ref
        return reg

    # -- global functions' arg:trusted (btf_prepare_func_args, btf_check_func_arg_match) -------
    def global_arg_type(self, func_name: str, index: int, local_name: str) -> KType:
        """btf_get_ptr_to_btf_id: the one kernel struct a program's `struct X___flavor` names."""
        types = self.types(f"arg:trusted of {func_name}")
        essential = local_name.split("___", 1)[0]
        ids = types.named(essential)
        if len(ids) != 1:
            raise Reject(f"arg#{index} reference type('STRUCT {local_name}') "
                         f"{'has no matches' if not ids else 'is ambiguous'}")
        return types.ktype(ids[0])

    def global_arg_reg(self, kt: KType, nullable: bool) -> Reg:
        """What a global function's arg:trusted holds in its own walk (do_check_common)."""
        if nullable:
            return Reg.pointer(T_TRUSTED_OR_NULL, btf_type=kt, id=self.ck.new_id())
        return Reg.pointer(T_TRUSTED, btf_type=kt)

    def check_global_arg(self, regno: int, reg: Reg, kt: KType, nullable: bool) -> None:
        """A caller's register for an arg:trusted parameter (Linux 6.18: trust, then the type)."""
        is_null = reg.type is RegType.SCALAR and reg.is_const and reg.const_value == 0
        if is_null and nullable:
            return
        if not (is_trusted(reg) or (nullable and reg.type is T_TRUSTED_OR_NULL)):  # (6.18, as asked)
            raise Reject(f"R{regno} must be referenced or trusted")
        allowed = _GLOBAL_TRUSTED_OK | ({_NULLABLE_OF[t] for t in _GLOBAL_TRUSTED_OK} if nullable else set())
        if reg.type not in allowed:
            raise Reject(f"R{regno} type={reg.type.value} expected={_GLOBAL_TRUSTED_EXPECTED}")
        types = self.types("arg:trusted")
        note = types.mismatch(reg.btf_type.id, reg.off, kt.id, strict=False)
        if note is not None:
            raise Reject(f"{note}R{regno} is of type {reg.btf_type.name} but {kt.name} is expected")
        self.check_off(regno, reg)


def _trusted_base(t: RegType) -> str:
    """reg_type_str of PTR_TO_BTF_ID with the register's trusted modifiers only."""
    return "trusted_ptr_" if t in (T_TRUSTED, T_TRUSTED_OR_NULL) else "ptr_"
