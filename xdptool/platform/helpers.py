"""Helpers as data: every id and name, what an XDP program may call, the prototypes,
and what the NFP offload driver accepts.

Facts from the Linux kernel (include/uapi/linux/bpf.h for ids and names; the
`bpf_func_proto` definitions in net/core/filter.c and kernel/bpf/helpers.c for
argument and return types; xdp_func_proto/bpf_base_func_proto for what an XDP
program may call; check_map_func_compatibility for the map-type pairings;
drivers/net/ethernet/netronome/nfp/bpf/verifier.c nfp_bpf_check_helper_call for
the offload column).

A new helper goes here once: its name is already in HELPER_NAMES (uapi order, helper_ids.py);
add its prototype to `_XDP_PROTOS` (or its reason to `_XDP_UNSUPPORTED`), and a
row to `_NFP_CALLS` if the nfp driver accepts it.  The verifier, the runtime's
implementations (runtime/helpers.py, keyed by id) and the NFP stages read it here.
"""


import enum
from typing import NamedTuple

from .helper_ids import HELPER_ID, HELPER_NAMES, helper_name, known_helper  # noqa: F401 - re-exported
from .maps import MapType


class Arg(enum.Enum):
    DONTCARE = "dontcare"  # not checked at all (trace_printk's format arguments)
    ANYTHING = "anything"  # any initialised value
    CONST_MAP_PTR = "map_ptr"
    MAP_KEY = "map_key"  # stack/packet/map memory of map->key_size, initialised
    MAP_VALUE = "map_value"  # ... of map->value_size, initialised
    UNINIT_MAP_VALUE = "uninit_map_value"  # ... of value_size, written by the helper
    MEM = "mem"  # read-only memory, size in the next argument
    MEM_OR_NULL = "mem_or_null"  # like MEM, NULL allowed (with size 0)
    UNINIT_MEM = "uninit_mem"  # memory the helper writes, size in the next argument
    FIXED_MEM4 = "fixed_mem4"  # 4 aligned bytes the helper writes (check_mtu's mtu_len)
    FIXED_MEM8 = "fixed_mem8"  # 8 aligned bytes the helper writes, may be uninitialised (strtol's res)
    CONST_SIZE = "size"  # size of the previous memory argument, > 0
    CONST_SIZE_OR_ZERO = "size_or_zero"
    CONST_ALLOC_SIZE = "alloc_size"  # ringbuf_reserve size: a known constant
    CTX = "ctx"
    CALLBACK = "callback"  # a subprogram address (ld_imm64 of a function)
    SOCK_COMMON = "sock_common"  # ARG_PTR_TO_BTF_ID_SOCK_COMMON: a socket (not NULL), BTF-typed ones too
    SPIN_LOCK = "spin_lock"  # ARG_PTR_TO_SPIN_LOCK: the bpf_spin_lock in a map value
    RINGBUF_MEM = "ringbuf_mem"  # a ringbuf_reserve record (not NULL)
    TIMER = "timer"  # ARG_PTR_TO_TIMER: the struct bpf_timer in a map value
    STACK_OR_NULL = "stack_or_null"  # ARG_PTR_TO_STACK_OR_NULL: a callback's context
    TASK = "task"  # ARG_PTR_TO_BTF_ID of struct task_struct (btf_tracing_ids[BTF_TRACING_TYPE_TASK])
    # ARG_PTR_TO_DYNPTR with its flags (what each asks: verifier dynptr.py)
    DYNPTR = "dynptr"  # | MEM_RDONLY: an initialised dynptr of any type, not changed
    DYNPTR_LOCAL_UNINIT = "dynptr_local_uninit"  # | DYNPTR_TYPE_LOCAL | MEM_UNINIT: the helper makes one
    DYNPTR_RINGBUF_UNINIT = "dynptr_ringbuf_uninit"  # | DYNPTR_TYPE_RINGBUF | MEM_UNINIT: ... with a reference
    DYNPTR_RINGBUF_RELEASE = "dynptr_ringbuf_release"  # | DYNPTR_TYPE_RINGBUF | OBJ_RELEASE: releases it
    UNSUPPORTED = "unsupported"  # callbacks, const strings, BTF objects, references


class Ret(enum.Enum):
    INTEGER = "integer"
    VOID = "void"
    MAP_VALUE_OR_NULL = "map_value_or_null"
    RINGBUF_MEM_OR_NULL = "ringbuf_mem_or_null"
    SOCKET_OR_NULL = "sock_or_null"
    SOCK_COMMON_OR_NULL = "sock_common_or_null"
    BTF_ID_TRUSTED = "trusted_ptr_"  # RET_PTR_TO_BTF_ID_TRUSTED: a kernel object of `ret_struct`
    BTF_ID_OR_NULL = "ptr_or_null_"  # RET_PTR_TO_BTF_ID_OR_NULL
    DYNPTR_MEM_OR_NULL = "mem_or_null"  # RET_PTR_TO_DYNPTR_MEM_OR_NULL: bpf_dynptr_data's `len` bytes


class CallbackParam(enum.Enum):
    """What a helper's callback finds in R1, R2, ... (the kernel's set_*_callback_state)."""

    INDEX = "index"  # an unknown scalar (bpf_loop's iteration number)
    MAP = "map"  # the map the helper works on (CONST_PTR_TO_MAP)
    MAP_KEY = "map_key"  # a key of that map (PTR_TO_MAP_KEY)
    MAP_VALUE = "map_value"  # its value (PTR_TO_MAP_VALUE)
    CONTEXT = "context"  # the helper's callback_ctx argument as it was (stack or NULL)
    CALLER_R1 = "caller_r1"  # the helper's first argument as it was (bpf_find_vma's task)
    VMA = "vma"  # a struct vm_area_struct (PTR_TO_BTF_ID)
    DYNPTR = "dynptr"  # const struct bpf_dynptr * over a user ring buffer record


class Callback(NamedTuple):
    """A helper with a callback argument (is_callback_calling_function).  A sync one
    runs during the call, any number of times (bpf_loop: at most R1), returning 0 or 1;
    an async one (a timer's) runs later, from a state of its own, and returns 0."""

    params: tuple[CallbackParam, ...]
    is_async: bool = False
    bounded_by_r1: bool = False
    context_arg: int = 3  # the helper's argument the callback gets as CONTEXT


class NfpCall(NamedTuple):
    """A helper the nfp driver accepts (nfp_bpf_check_helper_call), and on what condition."""

    fname: str  # as the driver's messages call it
    stack_args: tuple[int, ...] = ()  # argument registers nfp_bpf_stack_arg_ok checks
    needs: str = ""  # the firmware capability it needs (nfp_driver.Firmware.has)
    missing: str = ""  # nfp_driver.RULES row when the firmware lacks it
    check: str = ""  # a further check of the driver's (nfp_rules.NfpRules.CALL_CHECKS)


class Helper(NamedTuple):
    """A helper's prototype and the verifier's facts about it, as the kernel states them."""

    id: int
    name: str
    args: tuple[Arg, ...] = ()
    ret: Ret = Ret.INTEGER
    changes_pkt_data: bool = False
    writes_packet: bool = False  # may change packet bytes through the context or a dynptr (_WRITES_PACKET)
    written_args: tuple[int, ...] = ()  # the arguments (1-5) whose memory the helper writes
    gpl_only: bool = False
    writes_map: bool = False  # changes the map itself: refused on BPF_F_RDONLY_PROG maps (record_func_map)
    acquires: bool = False  # returns a reference the program must release (is_acquire_function)
    releases: int = 0  # the argument (1-5) whose reference it releases (OBJ_RELEASE), 0 none
    ret_struct: str = ""  # the kernel struct a Ret.BTF_ID_* helper returns (its ret_btf_id)
    casts_pointer: bool = False  # R0 keeps the argument's reference (is_ptr_cast_function)
    unsupported: str | None = None  # why xdptool's verifier cannot check calls to it
    callback: Callback | None = None  # one of its arguments (Arg.CALLBACK) is a callback: how it is called
    nfp: "NfpCall | None" = None  # how the nfp driver accepts it; None: "unsupported function id"

    @property
    def full_name(self) -> str:
        return f"bpf_{self.name}"



A = Arg
_REF = "reference-tracked BTF objects (kptrs)"

# The helpers an XDP program may call (xdp_func_proto + bpf_sk_base_func_proto +
# bpf_base_func_proto for a privileged loader), with their prototypes.
_XDP_PROTOS = [
    ("map_lookup_elem", (A.CONST_MAP_PTR, A.MAP_KEY), Ret.MAP_VALUE_OR_NULL),
    ("map_update_elem", (A.CONST_MAP_PTR, A.MAP_KEY, A.MAP_VALUE, A.ANYTHING)),
    ("map_delete_elem", (A.CONST_MAP_PTR, A.MAP_KEY)),
    ("map_push_elem", (A.CONST_MAP_PTR, A.MAP_VALUE, A.ANYTHING)),
    ("map_pop_elem", (A.CONST_MAP_PTR, A.UNINIT_MAP_VALUE)),
    ("map_peek_elem", (A.CONST_MAP_PTR, A.UNINIT_MAP_VALUE)),
    ("map_lookup_percpu_elem", (A.CONST_MAP_PTR, A.MAP_KEY, A.ANYTHING), Ret.MAP_VALUE_OR_NULL),
    ("ktime_get_ns", ()),
    ("ktime_get_boot_ns", ()),
    ("ktime_get_coarse_ns", ()),
    ("ktime_get_tai_ns", ()),
    ("jiffies64", ()),
    ("get_prandom_u32", ()),
    ("get_smp_processor_id", ()),
    ("get_numa_node_id", ()),
    ("get_current_pid_tgid", ()),
    ("get_current_uid_gid", ()),
    ("get_current_comm", (A.UNINIT_MEM, A.CONST_SIZE)),
    ("trace_printk", (A.MEM, A.CONST_SIZE, A.DONTCARE, A.DONTCARE, A.DONTCARE)),
    ("trace_vprintk", (A.MEM, A.CONST_SIZE, A.MEM_OR_NULL, A.CONST_SIZE_OR_ZERO)),
    ("probe_read_kernel", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    ("probe_read_kernel_str", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    ("tail_call", (A.CTX, A.CONST_MAP_PTR, A.ANYTHING), Ret.VOID),
    ("redirect", (A.ANYTHING, A.ANYTHING)),
    ("redirect_map", (A.CONST_MAP_PTR, A.ANYTHING, A.ANYTHING)),
    ("perf_event_output", (A.CTX, A.CONST_MAP_PTR, A.ANYTHING, A.MEM, A.CONST_SIZE_OR_ZERO)),
    ("csum_diff", (A.MEM_OR_NULL, A.CONST_SIZE_OR_ZERO, A.MEM_OR_NULL, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    ("xdp_adjust_head", (A.CTX, A.ANYTHING)),
    ("xdp_adjust_meta", (A.CTX, A.ANYTHING)),
    ("xdp_adjust_tail", (A.CTX, A.ANYTHING)),
    ("fib_lookup", (A.CTX, A.MEM, A.CONST_SIZE, A.ANYTHING)),
    ("check_mtu", (A.CTX, A.ANYTHING, A.FIXED_MEM4, A.ANYTHING, A.ANYTHING)),
    ("xdp_get_buff_len", (A.CTX,)),
    ("xdp_load_bytes", (A.CTX, A.ANYTHING, A.UNINIT_MEM, A.CONST_SIZE)),
    ("xdp_store_bytes", (A.CTX, A.ANYTHING, A.MEM, A.CONST_SIZE)),
    ("ringbuf_output", (A.CONST_MAP_PTR, A.MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    ("ringbuf_query", (A.CONST_MAP_PTR, A.ANYTHING)),
    ("loop", (A.ANYTHING, A.CALLBACK, A.STACK_OR_NULL, A.ANYTHING)),  # bpf_iter.c bpf_loop_proto
    # callbacks (bpf_iter.c, ringbuf.c, helpers.c): how each is called is in CALLBACKS
    ("for_each_map_elem", (A.CONST_MAP_PTR, A.CALLBACK, A.STACK_OR_NULL, A.ANYTHING)),
    ("user_ringbuf_drain", (A.CONST_MAP_PTR, A.CALLBACK, A.STACK_OR_NULL, A.ANYTHING)),
    ("timer_init", (A.TIMER, A.CONST_MAP_PTR, A.ANYTHING)),
    ("timer_set_callback", (A.TIMER, A.CALLBACK)),
    ("timer_start", (A.TIMER, A.ANYTHING, A.ANYTHING)),
    ("timer_cancel", (A.TIMER,)),
    ("find_vma", (A.TASK, A.ANYTHING, A.CALLBACK, A.STACK_OR_NULL, A.ANYTHING)),  # kernel/bpf/task_iter.c
    ("strtol", (A.MEM, A.CONST_SIZE, A.ANYTHING, A.FIXED_MEM8)),  # bpf_base_func_proto (Linux 6.18)
    ("strtoul", (A.MEM, A.CONST_SIZE, A.ANYTHING, A.FIXED_MEM8)),
    # reference-tracked objects: sockets and ring buffer records
    ("sk_lookup_tcp", (A.CTX, A.MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.ANYTHING), Ret.SOCKET_OR_NULL),
    ("sk_lookup_udp", (A.CTX, A.MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.ANYTHING), Ret.SOCKET_OR_NULL),
    ("skc_lookup_tcp", (A.CTX, A.MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.ANYTHING), Ret.SOCK_COMMON_OR_NULL),
    ("sk_release", (A.SOCK_COMMON,)),
    ("tcp_check_syncookie", (A.SOCK_COMMON, A.MEM, A.CONST_SIZE, A.MEM, A.CONST_SIZE)),
    ("tcp_gen_syncookie", (A.SOCK_COMMON, A.MEM, A.CONST_SIZE, A.MEM, A.CONST_SIZE)),
    ("ringbuf_reserve", (A.CONST_MAP_PTR, A.CONST_ALLOC_SIZE, A.ANYTHING), Ret.RINGBUF_MEM_OR_NULL),
    ("ringbuf_submit", (A.RINGBUF_MEM, A.ANYTHING), Ret.VOID),
    ("ringbuf_discard", (A.RINGBUF_MEM, A.ANYTHING), Ret.VOID),
    ("spin_lock", (A.SPIN_LOCK,), Ret.VOID),  # the held lock is the state's (verifier checker.py)
    ("spin_unlock", (A.SPIN_LOCK,), Ret.VOID),
    # dynptrs (kernel/bpf/helpers.c, kernel/bpf/ringbuf.c; verifier dynptr.py)
    ("dynptr_from_mem", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING, A.DYNPTR_LOCAL_UNINIT)),
    ("dynptr_read", (A.UNINIT_MEM, A.CONST_SIZE_OR_ZERO, A.DYNPTR, A.ANYTHING, A.ANYTHING)),
    ("dynptr_write", (A.DYNPTR, A.ANYTHING, A.MEM, A.CONST_SIZE_OR_ZERO, A.ANYTHING)),
    ("dynptr_data", (A.DYNPTR, A.ANYTHING, A.CONST_ALLOC_SIZE), Ret.DYNPTR_MEM_OR_NULL),
    ("ringbuf_reserve_dynptr", (A.CONST_MAP_PTR, A.ANYTHING, A.ANYTHING, A.DYNPTR_RINGBUF_UNINIT)),
    ("ringbuf_submit_dynptr", (A.DYNPTR_RINGBUF_RELEASE, A.ANYTHING), Ret.VOID),
    ("ringbuf_discard_dynptr", (A.DYNPTR_RINGBUF_RELEASE, A.ANYTHING), Ret.VOID),
    # BTF-typed kernel objects (verifier btf_ptr.py; the types come from the kernel's BTF)
    ("get_current_task_btf", (), Ret.BTF_ID_TRUSTED),
    ("skc_to_tcp6_sock", (A.SOCK_COMMON,), Ret.BTF_ID_OR_NULL),
    ("skc_to_tcp_sock", (A.SOCK_COMMON,), Ret.BTF_ID_OR_NULL),
    ("skc_to_tcp_timewait_sock", (A.SOCK_COMMON,), Ret.BTF_ID_OR_NULL),
    ("skc_to_tcp_request_sock", (A.SOCK_COMMON,), Ret.BTF_ID_OR_NULL),
    ("skc_to_udp6_sock", (A.SOCK_COMMON,), Ret.BTF_ID_OR_NULL),
    ("skc_to_unix_sock", (A.SOCK_COMMON,), Ret.BTF_ID_OR_NULL),
    ("skc_to_mptcp_sock", (A.SOCK_COMMON,), Ret.BTF_ID_OR_NULL),
]
# the struct each BTF-typed return points to (the helpers' ret_btf_id, net/core/filter.c btf_sock_ids)
_RET_STRUCT = {"get_current_task_btf": "task_struct", "skc_to_tcp6_sock": "tcp6_sock", "skc_to_tcp_sock": "tcp_sock",
               "skc_to_tcp_timewait_sock": "tcp_timewait_sock", "skc_to_tcp_request_sock": "tcp_request_sock",
               "skc_to_udp6_sock": "udp6_sock", "skc_to_unix_sock": "unix_sock", "skc_to_mptcp_sock": "mptcp_sock"}
_CASTS_POINTER = {name for name in _RET_STRUCT if name.startswith("skc_to_")}

_GPL_ONLY = {"trace_printk", "trace_vprintk", "probe_read_kernel", "probe_read_kernel_str", "perf_event_output",
             "tcp_check_syncookie", "tcp_gen_syncookie", "get_current_task_btf",
             "timer_init", "timer_set_callback", "timer_start", "timer_cancel"}
_CHANGES_PKT_DATA = {"xdp_adjust_head", "xdp_adjust_meta", "xdp_adjust_tail"}
# Helpers that may change the packet's bytes other than through a pointer argument: the
# ones that move it (bpf_helper_changes_pkt_data), xdp_store_bytes (net/core/filter.c) and
# dynptr_write, whose dynptr may be an XDP packet's (kernel/bpf/helpers.c).
_WRITES_PACKET = _CHANGES_PKT_DATA | {"xdp_store_bytes", "dynptr_write"}
# Argument kinds a helper writes through (the kernel's MEM_UNINIT / MEM_WRITE), and the
# read-write ARG_PTR_TO_MEM arguments: bpf_xdp_fib_lookup_proto's params (net/core/filter.c:
# ARG_PTR_TO_MEM, marked MEM_WRITE since Linux 6.13), where the lookup writes its result.
WRITTEN_ARG_KINDS = frozenset({Arg.UNINIT_MAP_VALUE, Arg.UNINIT_MEM, Arg.FIXED_MEM4, Arg.FIXED_MEM8,
                               Arg.DYNPTR_LOCAL_UNINIT, Arg.DYNPTR_RINGBUF_UNINIT})
_WRITTEN_MEM_ARGS = {"fib_lookup": (2,)}
_WRITES_MAP = {"map_update_elem", "map_delete_elem", "map_push_elem", "map_pop_elem"}
_ACQUIRES = {"sk_lookup_tcp", "sk_lookup_udp", "skc_lookup_tcp", "ringbuf_reserve"}
_RELEASES = {"sk_release": 1, "ringbuf_submit": 1, "ringbuf_discard": 1}
P = CallbackParam
# set_loop_callback_state, set_map_elem_callback_state (map_set_for_each_callback_args),
# set_user_ringbuf_callback_state, set_timer_callback_state (kernel/bpf/verifier.c)
CALLBACKS = {
    "loop": Callback((P.INDEX, P.CONTEXT), bounded_by_r1=True),
    "for_each_map_elem": Callback((P.MAP, P.MAP_KEY, P.MAP_VALUE, P.CONTEXT)),
    "user_ringbuf_drain": Callback((P.DYNPTR, P.CONTEXT)),
    "timer_set_callback": Callback((P.MAP, P.MAP_KEY, P.MAP_VALUE), is_async=True),
    "find_vma": Callback((P.CALLER_R1, P.VMA, P.CONTEXT), context_arg=4),  # set_find_vma_callback_state
}
# allow_fastcall helpers the kernel inlines on x86-64 (verifier_inlines_helper_call): the
# spills and fills around their calls are removed, and the stack they used with them (verifier fastcall.py)
FASTCALL_INLINED = frozenset({HELPER_ID["get_smp_processor_id"]})
# the maps whose ops have map_set_for_each_callback_args (arraymap.c, hashtab.c); with any
# other the kernel says "callback function not allowed for map"
FOR_EACH_MAP_TYPES = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.LRU_HASH,
                                MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH})

# XDP may call these, but checking them needs machinery xdptool's verifier lacks.
_XDP_UNSUPPORTED = {
    "tcp_raw_gen_syncookie_ipv4": "BTF-typed arguments", "tcp_raw_gen_syncookie_ipv6": "BTF-typed arguments",
    "tcp_raw_check_syncookie_ipv4": "BTF-typed arguments", "tcp_raw_check_syncookie_ipv6": "BTF-typed arguments",
    "kptr_xchg": _REF,
    "snprintf": "constant-string arguments", "strncmp": "constant-string arguments",
    "per_cpu_ptr": "BTF-typed pointers", "this_cpu_ptr": "BTF-typed pointers",
    "get_current_task": "BTF-typed pointers",
}


# nfp_bpf_check_helper_call: every other helper is "unsupported function id"; each case first
# asks the firmware (main.c reads its capability TLVs), then checks the arguments in this order.
_NFP_CALLS = {
    "map_lookup_elem": NfpCall("map_lookup", (2,), "map_lookup", "fw_map_call"),  # (map, key)
    "map_update_elem": NfpCall("map_update", (2, 3), "map_update", "fw_map_call", "update_value"),  # (map, key, value, flags)
    "map_delete_elem": NfpCall("map_delete", (2,), "map_delete", "fw_map_call"),  # (map, key)
    "get_prandom_u32": NfpCall("get_prandom_u32", (), "pseudo_random", "fw_random"),
    "perf_event_output": NfpCall("event_output", (), "perf_event_output", "fw_event_output", "event_output"),
    "xdp_adjust_head": NfpCall("adjust_head", (), "adjust_head", "fw_adjust_head", "adjust_head"),
    "xdp_adjust_tail": NfpCall("adjust_tail", (), "adjust_tail", "fw_adjust_tail"),
}


def _build() -> dict[int, Helper]:
    table: dict[int, Helper] = {}
    for entry in _XDP_PROTOS:
        name, args, *ret = entry
        table[HELPER_ID[name]] = Helper(
            HELPER_ID[name], name, args, ret[0] if ret else Ret.INTEGER,
            changes_pkt_data=name in _CHANGES_PKT_DATA, writes_packet=name in _WRITES_PACKET,
            written_args=tuple(n for n, kind in enumerate(args, 1) if kind in WRITTEN_ARG_KINDS)
            + _WRITTEN_MEM_ARGS.get(name, ()),
            gpl_only=name in _GPL_ONLY, writes_map=name in _WRITES_MAP,
            acquires=name in _ACQUIRES, releases=_RELEASES.get(name, 0), nfp=_NFP_CALLS.get(name),
            ret_struct=_RET_STRUCT.get(name, ""), casts_pointer=name in _CASTS_POINTER,
            callback=CALLBACKS.get(name),
        )
    for name, why in _XDP_UNSUPPORTED.items():
        table[HELPER_ID[name]] = Helper(HELPER_ID[name], name, unsupported=why)
    return table


XDP_HELPERS: dict[int, Helper] = _build()


NFP_HELPERS: dict[int, Helper] = {i: h for i, h in XDP_HELPERS.items() if h.nfp is not None}


# check_map_func_compatibility, first half: special map types accept only these helpers.
_ID = HELPER_ID
MAP_ONLY_FUNCS: dict[MapType, frozenset[int]] = {
    MapType.PROG_ARRAY: frozenset({_ID["tail_call"]}),
    MapType.PERF_EVENT_ARRAY: frozenset({_ID[n] for n in ("perf_event_read", "perf_event_output", "perf_event_read_value", "skb_output", "xdp_output")}),
    MapType.RINGBUF: frozenset({_ID[n] for n in ("ringbuf_output", "ringbuf_reserve", "ringbuf_query", "ringbuf_reserve_dynptr")}),
    MapType.USER_RINGBUF: frozenset({_ID["user_ringbuf_drain"]}),
    MapType.STACK_TRACE: frozenset({_ID["get_stackid"]}),
    MapType.CGROUP_ARRAY: frozenset({_ID["skb_under_cgroup"], _ID["current_task_under_cgroup"]}),
    MapType.CGROUP_STORAGE: frozenset({_ID["get_local_storage"]}),
    MapType.PERCPU_CGROUP_STORAGE: frozenset({_ID["get_local_storage"]}),
    MapType.DEVMAP: frozenset({_ID["redirect_map"], _ID["map_lookup_elem"]}),
    MapType.DEVMAP_HASH: frozenset({_ID["redirect_map"], _ID["map_lookup_elem"]}),
    MapType.CPUMAP: frozenset({_ID["redirect_map"]}),
    MapType.XSKMAP: frozenset({_ID["redirect_map"], _ID["map_lookup_elem"]}),
    MapType.ARRAY_OF_MAPS: frozenset({_ID["map_lookup_elem"]}),
    MapType.HASH_OF_MAPS: frozenset({_ID["map_lookup_elem"]}),
    MapType.QUEUE: frozenset({_ID["map_peek_elem"], _ID["map_pop_elem"], _ID["map_push_elem"]}),
    MapType.STACK: frozenset({_ID["map_peek_elem"], _ID["map_pop_elem"], _ID["map_push_elem"]}),
    MapType.BLOOM_FILTER: frozenset({_ID["map_peek_elem"], _ID["map_push_elem"]}),
    MapType.REUSEPORT_SOCKARRAY: frozenset({_ID["sk_select_reuseport"]}),
    MapType.SK_STORAGE: frozenset({_ID["sk_storage_get"], _ID["sk_storage_delete"], _ID["kptr_xchg"]}),
    # ... with map_update/delete_elem, which may_update_sockmap allows an XDP program
    MapType.SOCKMAP: frozenset({_ID[n] for n in ("sk_redirect_map", "sock_map_update", "msg_redirect_map",
                                                 "sk_select_reuseport", "map_lookup_elem", "map_update_elem",
                                                 "map_delete_elem")}),
    MapType.SOCKHASH: frozenset({_ID[n] for n in ("sk_redirect_hash", "sock_hash_update", "msg_redirect_hash",
                                                  "sk_select_reuseport", "map_lookup_elem", "map_update_elem",
                                                  "map_delete_elem")}),
}

# ... second half: these helpers accept only these map types.
_PERCPU = frozenset({MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH})
FUNC_ONLY_MAPS: dict[int, frozenset[MapType]] = {
    _ID["tail_call"]: frozenset({MapType.PROG_ARRAY}),
    **{_ID[n]: frozenset({MapType.PERF_EVENT_ARRAY}) for n in ("perf_event_read", "perf_event_output", "perf_event_read_value", "skb_output", "xdp_output")},
    **{_ID[n]: frozenset({MapType.RINGBUF}) for n in ("ringbuf_output", "ringbuf_reserve", "ringbuf_query",
                                                      "ringbuf_reserve_dynptr")},
    _ID["user_ringbuf_drain"]: frozenset({MapType.USER_RINGBUF}),
    _ID["redirect_map"]: frozenset({MapType.DEVMAP, MapType.DEVMAP_HASH, MapType.CPUMAP, MapType.XSKMAP}),
    _ID["map_push_elem"]: frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER}),
    _ID["map_peek_elem"]: frozenset({MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER}),
    _ID["map_pop_elem"]: frozenset({MapType.QUEUE, MapType.STACK}),
    _ID["map_lookup_percpu_elem"]: _PERCPU,
}


def map_func_compatible(map_type: MapType, func_id: int) -> bool:
    allowed_funcs = MAP_ONLY_FUNCS.get(map_type)
    if allowed_funcs is not None and func_id not in allowed_funcs:
        return False
    allowed_maps = FUNC_ONLY_MAPS.get(func_id)
    return allowed_maps is None or map_type in allowed_maps
