"""Global subprograms: what the kernel verifies on their own, from their BTF prototype.

A subprogram whose BTF FUNC has global linkage (func_info present) is checked once,
by itself, with its arguments typed from the prototype (btf_prepare_func_args,
Linux 6.12/6.18 kernel/bpf/btf.c): `struct xdp_md *` or an `arg:ctx` tag is the
context, an integer or enum any scalar, `arg:trusted` a trusted kernel object (the
kernel's struct of the pointee's name, flavour suffix `___x` dropped; `arg:nullable`
lets it be NULL; verifier btf_ptr.py), any other pointer memory of the pointee's size
that may be NULL (`arg:nonnull` says it is not).  A call only checks that the
caller's registers fit the prototype, and its result is an unknown scalar; so a
global function must not dereference a pointer argument before checking it.
"""


import enum
from typing import NamedTuple

from ..elf.btf import Kind
from ..errors import ObjectFormatError, XdpError
from .result import Reject

BTF_FUNC_GLOBAL = 1
XDP_CTX_STRUCT = "xdp_md"  # the uapi context type of BPF_PROG_TYPE_XDP (bpf_ctx_convert)
_ARG_TAGS = ("ctx", "trusted", "nonnull", "nullable", "arena")


class ArgKind(enum.Enum):
    CTX = "ctx"
    SCALAR = "scalar"
    MEM = "mem"  # `size` bytes, NULL allowed unless `nonnull`
    DYNPTR = "dynptr"  # struct bpf_dynptr *: an initialised dynptr, read only (verifier dynptr.py)
    TRUSTED = "trusted"  # a trusted kernel object of the struct `struct` names (NULL allowed if `nullable`)


class GlobalArg(NamedTuple):
    kind: ArgKind
    size: int = 0
    nullable: bool = True
    struct: str = ""  # TRUSTED: the program's name of the struct (kernel's name + a flavour suffix)


class GlobalFunc(NamedTuple):
    index: int  # subprogram number (func#N)
    name: str
    start: int
    args: tuple[GlobalArg, ...] | None  # None: `error` says why the prototype is refused
    error: str = ""


def global_funcs(program, subprog_starts: list[int]) -> dict[int, GlobalFunc]:
    """Start pc -> GlobalFunc for every global subprogram (none without func_info)."""
    if len(subprog_starts) == 1:  # the entry is never one
        return {}
    obj = program.object
    btf = obj.btf if obj is not None else None
    if btf is None or not program.func_info:
        return {}
    type_of = dict(program.func_info)
    names = {sub.start: sub.name for sub in program.subprograms}
    found = {}
    for index, start in enumerate(subprog_starts):
        type_id = type_of.get(start)
        if index == 0 or not type_id:
            continue
        func = btf.type(type_id)
        if func.kind is not Kind.FUNC or func.linkage != BTF_FUNC_GLOBAL:
            continue
        name = func.name or names.get(start, f"func#{index}")
        try:
            found[start] = GlobalFunc(index, name, start, _args(btf, func))
        except Reject as reject:
            found[start] = GlobalFunc(index, name, start, None, reject.message)
        except ObjectFormatError as error:
            raise XdpError(f"{program.name}: BTF of global function {name}: {error}") from error
    return found


def _tags(btf, func_id: int, arg: int) -> set[str]:
    tags = set()
    for t in btf.types:
        if t.kind is Kind.DECL_TAG and t.type == func_id and t.component_idx == arg and t.name.startswith("arg:"):
            tag = t.name[4:]
            if tag not in _ARG_TAGS:
                raise Reject(f"arg#{arg} has unsupported set of tags")
            tags.add(tag)
    return tags


def _args(btf, func) -> tuple[GlobalArg, ...]:
    """btf_prepare_func_args for a global function of an XDP program."""
    proto = btf.resolve(func.type)
    if proto.kind is not Kind.FUNC_PROTO:
        raise Reject(f"Invalid type of function {func.name}()")
    if len(proto.members) > 5:
        raise Reject(f"Global function {func.name}() with {len(proto.members)} > 5 args. Buggy compiler.")
    ret = btf.resolve(proto.type)
    if ret.kind not in (Kind.INT, Kind.ENUM, Kind.ENUM64):
        raise Reject(f"Global function {func.name}() doesn't return scalar. Only those are supported.")
    args = []
    for i, param in enumerate(proto.members):
        tags = _tags(btf, func.id, i)
        t = btf.resolve(param.type)
        if t.kind is not Kind.PTR:
            if tags:
                raise Reject(f"arg#{i} has pointer tag, but is not a pointer type")
            if t.kind not in (Kind.INT, Kind.ENUM, Kind.ENUM64):
                raise Reject(f"Arg#{i} type {t.kind.name} in {func.name}() is not supported yet.")
            args.append(GlobalArg(ArgKind.SCALAR))
            continue
        pointee = btf.resolve(t.type) if t.type else None
        if "ctx" in tags or (pointee is not None and pointee.kind is Kind.STRUCT and pointee.name == XDP_CTX_STRUCT):
            if tags - {"ctx"}:
                raise Reject(f"arg#{i} has invalid combination of tags")
            if "ctx" in tags and pointee is not None and pointee.kind is not Kind.VOID:  # btf_validate_prog_ctx_type
                if not pointee.name:
                    raise Reject(f"arg#{i} type doesn't have a name")
                if pointee.kind is not Kind.STRUCT or pointee.name != XDP_CTX_STRUCT:
                    raise Reject(f"arg#{i} should be `struct {XDP_CTX_STRUCT} *`")
            args.append(GlobalArg(ArgKind.CTX))
            continue
        if pointee is not None and pointee.kind is Kind.STRUCT and pointee.name == "bpf_dynptr":  # btf_is_dynptr_ptr
            if tags:
                raise Reject(f"arg#{i} has invalid combination of tags")
            args.append(GlobalArg(ArgKind.DYNPTR))
            continue
        if "trusted" in tags:
            if "nonnull" in tags:
                raise Reject(f"arg#{i} has invalid combination of tags")
            if pointee is None or pointee.kind not in (Kind.STRUCT, Kind.UNION):
                raise XdpError(f"verifier: arg:trusted arguments of global functions ({func.name}) that do not "
                               "point to a struct are not implemented")
            args.append(GlobalArg(ArgKind.TRUSTED, nullable="nullable" in tags, struct=pointee.name))
            continue
        if "arena" in tags:
            raise XdpError(f"verifier: arg:arena arguments of global functions ({func.name}) are not implemented")
        if "nullable" in tags:
            raise Reject(f"arg#{i} has invalid combination of tags")
        if pointee is None or pointee.kind in (Kind.FUNC_PROTO, Kind.FWD, Kind.VOID, Kind.FUNC):
            kind, name = ("UNKNOWN", "") if pointee is None else (pointee.kind.name, pointee.name)
            raise Reject(f"arg#{i} reference type('{kind} {name}') size cannot be determined: -22")  # -EINVAL
        args.append(GlobalArg(ArgKind.MEM, btf.sizeof(t.type), nullable="nonnull" not in tags))
    return tuple(args)
