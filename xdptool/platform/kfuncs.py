"""Kernel functions (kfuncs) an XDP program may call, as data.

Facts from Linux 6.18: the prototypes are the kernel's BTF (`bpftool btf dump file
/sys/kernel/btf/vmlinux`, and the __bpf_kfunc definitions in net/core/xdp.c,
net/core/filter.c, kernel/bpf/helpers.c, net/netfilter/nf_conntrack_bpf.c,
net/netfilter/nf_flow_table_bpf.c, net/xfrm/xfrm_state_bpf.c); the flags are the
BTF_ID_FLAGS of the sets registered for BPF_PROG_TYPE_XDP (xdp_metadata_kfunc_set,
bpf_kfunc_set_xdp, common_kfunc_set, generic_kfunc_set, nf_conntrack_kfunc_set,
nf_ft_kfunc_set, xfrm_state_xdp_kfunc_set); `since` is the release that added the
kfunc.  Kfuncs of other program types that XDP programs are refused are listed in
NOT_FOR_XDP ("calling kernel function %s is not allowed").

A kfunc is added here once; the verifier checks the calls whose parameters it
models (`Param.kind`) and names the machinery it lacks for the others.
"""


import enum
from typing import NamedTuple


class KF(enum.Flag):
    """include/linux/btf.h KF_* flags."""

    NONE = 0
    ACQUIRE = enum.auto()  # returns a reference the program must release
    RELEASE = enum.auto()  # releases the reference it is passed
    RET_NULL = enum.auto()  # may return NULL: check before use
    TRUSTED_ARGS = enum.auto()
    SLEEPABLE = enum.auto()
    DESTRUCTIVE = enum.auto()
    RCU = enum.auto()
    ITER_NEW = enum.auto()
    ITER_NEXT = enum.auto()
    ITER_DESTROY = enum.auto()
    RCU_PROTECTED = enum.auto()


class P(enum.Enum):
    """What the verifier asks of an argument (get_kfunc_ptr_arg_type's classes, as far as modelled)."""

    CTX = "ctx"  # the program's context (struct xdp_md *)
    SCALAR = "scalar"  # an integer
    MEM_OUT = "mem"  # pointer to `size` bytes the kfunc writes (KF_ARG_PTR_TO_MEM of a scalar type)
    MEM = "mem_sized"  # pointer to memory whose size is the next (__sz) argument
    SIZE = "size"  # the __sz (or __szk constant) size of the previous argument
    DYNPTR = "dynptr"  # an initialised struct bpf_dynptr on the stack
    DYNPTR_UNINIT = "dynptr_uninit"  # a stack slot the kfunc makes a dynptr (ptr__uninit)
    ITER = "iter"  # an iterator (struct bpf_iter_<type>, `size` bytes) on the stack
    BTF_PTR = "btf_ptr"  # a BTF-typed kernel object (trusted pointer) of the struct `ctype` names
    NULLABLE_MEM = "mem_nullable"  # memory or NULL (__nullable / opts__nullable)
    IGNORED = "ign"  # not checked at all (an __ign parameter)
    CONST = "const"  # a scalar whose value must be known (a __k parameter: bpf_rdonly_cast's BTF id)


class Param(NamedTuple):
    name: str
    ctype: str
    kind: P
    size: int = 0  # bytes of MEM_OUT, or of the ITER struct


class Kfunc(NamedTuple):
    name: str
    params: tuple[Param, ...]
    ret: str  # the C return type, as BTF gives it
    flags: KF = KF.NONE
    since: str = ""
    needs: str = ""  # what the verifier lacks to check calls to it ("" when it checks them)
    dev_bound: bool = False  # only for device-bound programs (bpf_dev_bound_kfunc_id)
    ret_size: int = 0  # bytes a returned pointer to a scalar type points to (btf_resolve_size)

    @property
    def returns_scalar(self) -> bool:
        return "*" not in self.ret and self.ret != "void"

    @property
    def returns_struct(self) -> str:
        """The struct a `struct NAME *` return points to ("" for any other return type)."""
        return _struct_name(self.ret)


def _struct_name(ctype: str) -> str:
    words = ctype.replace("*", " ").split()
    return words[words.index("struct") + 1] if "struct" in words and ctype.endswith("*") else ""


def param_struct(param: Param) -> str:
    """The struct a BTF_PTR parameter points to (`struct task_struct *` -> task_struct)."""
    return _struct_name(param.ctype)


_CTX = Param("ctx", "const struct xdp_md *", P.CTX)
_ITER_NUM = Param("it", "struct bpf_iter_num *", P.ITER, 8)
_ITER_BITS = Param("it", "struct bpf_iter_bits *", P.ITER, 16)
_REF_NEEDS = "reference-tracked BTF objects"

XDP_KFUNCS: dict[str, Kfunc] = {k.name: k for k in (
    # net/core/xdp.c, xdp_metadata_kfunc_set: only a device-bound program (loaded with
    # prog_ifindex and BPF_F_XDP_DEV_BOUND_ONLY) may call them: add_kfunc_call refuses the
    # others before any other check ("metadata kfuncs require device-bound program")
    Kfunc("bpf_xdp_metadata_rx_timestamp", (_CTX, Param("timestamp", "u64 *", P.MEM_OUT, 8)), "int", since="6.3",
          dev_bound=True),
    Kfunc("bpf_xdp_metadata_rx_hash", (_CTX, Param("hash", "u32 *", P.MEM_OUT, 4),
                                       Param("rss_type", "enum xdp_rss_hash_type *", P.MEM_OUT, 4)), "int", since="6.3",
          dev_bound=True),
    Kfunc("bpf_xdp_metadata_rx_vlan_tag", (_CTX, Param("vlan_proto", "__be16 *", P.MEM_OUT, 2),
                                           Param("vlan_tci", "u16 *", P.MEM_OUT, 2)), "int", since="6.8",
          dev_bound=True),
    # net/core/filter.c, bpf_kfunc_set_xdp
    Kfunc("bpf_dynptr_from_xdp", (Param("xdp", "struct xdp_md *", P.CTX), Param("flags", "u64", P.SCALAR),
                                  Param("ptr__uninit", "struct bpf_dynptr *", P.DYNPTR_UNINIT)), "int", since="6.4"),
    # kernel/bpf/helpers.c, common_kfunc_set (every program type)
    Kfunc("bpf_dynptr_slice", (Param("p", "const struct bpf_dynptr *", P.DYNPTR),
                               Param("offset", "u32", P.SCALAR), Param("buffer__opt", "void *", P.NULLABLE_MEM),
                               Param("buffer__szk", "u32", P.SIZE)), "void *", KF.RET_NULL, "6.4"),
    Kfunc("bpf_dynptr_slice_rdwr", (Param("p", "const struct bpf_dynptr *", P.DYNPTR),
                                    Param("offset", "u32", P.SCALAR), Param("buffer__opt", "void *", P.NULLABLE_MEM),
                                    Param("buffer__szk", "u32", P.SIZE)), "void *", KF.RET_NULL, "6.4"),
    Kfunc("bpf_dynptr_adjust", (Param("p", "const struct bpf_dynptr *", P.DYNPTR), Param("start", "u32", P.SCALAR),
                                Param("end", "u32", P.SCALAR)), "int", since="6.4"),
    Kfunc("bpf_dynptr_size", (Param("p", "const struct bpf_dynptr *", P.DYNPTR),), "u32", since="6.4"),
    Kfunc("bpf_dynptr_is_null", (Param("p", "const struct bpf_dynptr *", P.DYNPTR),), "bool", since="6.4"),
    Kfunc("bpf_dynptr_is_rdonly", (Param("p", "const struct bpf_dynptr *", P.DYNPTR),), "bool", since="6.4"),
    Kfunc("bpf_dynptr_clone", (Param("p", "const struct bpf_dynptr *", P.DYNPTR),
                               Param("clone__uninit", "struct bpf_dynptr *", P.DYNPTR_UNINIT)), "int", since="6.4"),
    # open-coded iterators (verifier iterators.py): struct bpf_iter_num is 8 bytes, bpf_iter_bits 16
    Kfunc("bpf_iter_num_new", (_ITER_NUM, Param("start", "int", P.SCALAR), Param("end", "int", P.SCALAR)), "int",
          KF.ITER_NEW, "6.4"),
    Kfunc("bpf_iter_num_next", (_ITER_NUM,), "int *", KF.ITER_NEXT | KF.RET_NULL, "6.4", ret_size=4),
    Kfunc("bpf_iter_num_destroy", (_ITER_NUM,), "void", KF.ITER_DESTROY, "6.4"),
    Kfunc("bpf_iter_bits_new", (_ITER_BITS, Param("unsafe_ptr__ign", "const u64 *", P.IGNORED),
                                Param("nr_words", "u32", P.SCALAR)), "int", KF.ITER_NEW, "6.11"),
    Kfunc("bpf_iter_bits_next", (_ITER_BITS,), "int *", KF.ITER_NEXT | KF.RET_NULL, "6.11", ret_size=4),
    Kfunc("bpf_iter_bits_destroy", (_ITER_BITS,), "void", KF.ITER_DESTROY, "6.11"),
    # (the two casts' results are typed by check_kfunc_call itself: an untrusted pointer to the
    # struct whose vmlinux BTF id btf_id__k is; the trusted struct xdp_buff behind the ctx)
    Kfunc("bpf_rdonly_cast", (Param("obj__ign", "const void *", P.IGNORED), Param("btf_id__k", "u32", P.CONST)),
          "void *", since="6.2"),
    Kfunc("bpf_cast_to_kern_ctx", (Param("obj", "void *", P.CTX),), "void *", since="6.2"),
    # kernel/bpf/helpers.c, generic_kfunc_set: reference-counted tasks and cgroups
    Kfunc("bpf_task_acquire", (Param("p", "struct task_struct *", P.BTF_PTR),), "struct task_struct *",
          KF.ACQUIRE | KF.RCU | KF.RET_NULL, "6.2"),
    Kfunc("bpf_task_release", (Param("p", "struct task_struct *", P.BTF_PTR),), "void", KF.RELEASE, "6.2"),
    Kfunc("bpf_task_from_pid", (Param("pid", "s32", P.SCALAR),), "struct task_struct *",
          KF.ACQUIRE | KF.RET_NULL, "6.2"),
    Kfunc("bpf_cgroup_acquire", (Param("cgrp", "struct cgroup *", P.BTF_PTR),), "struct cgroup *",
          KF.ACQUIRE | KF.RCU | KF.RET_NULL, "6.2"),
    Kfunc("bpf_cgroup_release", (Param("cgrp", "struct cgroup *", P.BTF_PTR),), "void", KF.RELEASE, "6.2"),
    Kfunc("bpf_cgroup_from_id", (Param("cgid", "u64", P.SCALAR),), "struct cgroup *",
          KF.ACQUIRE | KF.RET_NULL, "6.2"),
    # kernel/trace/bpf_trace.c, key_sig_kfunc_set (every program type on 6.18)
    Kfunc("bpf_lookup_system_key", (Param("id", "u64", P.SCALAR),), "struct bpf_key *",
          KF.ACQUIRE | KF.RET_NULL, "6.1"),
    Kfunc("bpf_key_put", (Param("bkey", "struct bpf_key *", P.BTF_PTR),), "void", KF.RELEASE, "6.1"),
    Kfunc("bpf_preempt_disable", (), "void", since="6.10", needs="preemption sections"),
    Kfunc("bpf_preempt_enable", (), "void", since="6.10", needs="preemption sections"),
    Kfunc("bpf_rcu_read_lock", (), "void", since="6.2", needs="RCU sections"),
    Kfunc("bpf_rcu_read_unlock", (), "void", since="6.2", needs="RCU sections"),
    # net/netfilter/nf_conntrack_bpf.c (XDP and TC)
    Kfunc("bpf_xdp_ct_lookup", (_CTX, Param("bpf_tuple", "struct bpf_sock_tuple *", P.MEM),
                                Param("tuple__sz", "u32", P.SIZE), Param("opts", "struct bpf_ct_opts *", P.MEM),
                                Param("opts__sz", "u32", P.SIZE)), "struct nf_conn *",
          KF.ACQUIRE | KF.RET_NULL, "5.18", _REF_NEEDS),
    Kfunc("bpf_xdp_ct_alloc", (_CTX, Param("bpf_tuple", "struct bpf_sock_tuple *", P.MEM),
                               Param("tuple__sz", "u32", P.SIZE), Param("opts", "struct bpf_ct_opts *", P.MEM),
                               Param("opts__sz", "u32", P.SIZE)), "struct nf_conn___init *",
          KF.ACQUIRE | KF.RET_NULL, "6.1", _REF_NEEDS),
    Kfunc("bpf_ct_insert_entry", (Param("nfct_i", "struct nf_conn___init *", P.BTF_PTR),), "struct nf_conn *",
          KF.ACQUIRE | KF.RET_NULL | KF.RELEASE, "6.1", _REF_NEEDS),
    Kfunc("bpf_ct_release", (Param("nfct", "struct nf_conn *", P.BTF_PTR),), "void", KF.RELEASE, "5.18", _REF_NEEDS),
    # net/netfilter/nf_flow_table_bpf.c (needs CONFIG_NF_FLOW_TABLE built in)
    Kfunc("bpf_xdp_flow_lookup", (_CTX, Param("fib_tuple", "struct bpf_fib_lookup *", P.MEM),
                                  Param("opts", "struct bpf_flowtable_opts *", P.MEM),
                                  Param("opts_len", "u32", P.SIZE)), "struct flow_offload_tuple_rhash *",
          KF.TRUSTED_ARGS | KF.RET_NULL, "6.10", "BTF-typed pointers"),
    # net/xfrm/xfrm_state_bpf.c
    Kfunc("bpf_xdp_get_xfrm_state", (_CTX, Param("opts", "struct bpf_xfrm_state_opts *", P.MEM),
                                     Param("opts__sz", "u32", P.SIZE)), "struct xfrm_state *",
          KF.RET_NULL | KF.ACQUIRE, "6.8", _REF_NEEDS),
    Kfunc("bpf_xdp_xfrm_state_release", (Param("x", "struct xfrm_state *", P.BTF_PTR),), "void", KF.RELEASE, "6.8",
          _REF_NEEDS),
)}

# Kfuncs of Linux 6.18 registered only for other program types: an XDP program calling one
# is refused at the call ("calling kernel function %s is not allowed"; each checked on 6.18).
NOT_FOR_XDP = frozenset({
    "bpf_dynptr_from_skb", "bpf_dynptr_from_skb_meta", "bpf_get_task_exe_file", "bpf_put_file",
    "bpf_sock_addr_set_sun_path", "bpf_sock_destroy", "bpf_sock_ops_enable_tx_tstamp",
    "bpf_cpumask_create", "bpf_cpumask_release", "bpf_path_d_path",  # (the selftests, loaded as XDP on 6.18)
    # the arena's (kernel/bpf/arena.c; the live 6.18 kernel refuses them for XDP, and creates no arena maps)
    "bpf_arena_alloc_pages", "bpf_arena_free_pages", "bpf_arena_reserve_pages",
})

# Kfuncs Linux 6.18 refuses an XDP program once their arguments are checked ("%s() is not
# allowed"; recorded from the running kernel: a tc program may call them)
REFUSED_AFTER_ARGS_FOR_XDP = frozenset({"bpf_dynptr_slice_rdwr"})

# KF_SLEEPABLE kfuncs of the sets XDP may use: an XDP program is never sleepable, so the kernel
# refuses them where the walk reaches them ("program must be sleepable to call sleepable kfunc %s")
SLEEPABLE_FOR_XDP = frozenset({"bpf_copy_from_user_str", "bpf_lookup_user_key"})

# Kfuncs XDP may call (generic_kfunc_set and common_kfunc_set, checked on 6.18) whose
# prototypes are not recorded above: what the verifier would need to check calls to them.
OTHER_XDP_KFUNCS: dict[str, str] = {
    **dict.fromkeys(("bpf_send_signal_task", "bpf_get_kmem_cache"), _REF_NEEDS),
}
