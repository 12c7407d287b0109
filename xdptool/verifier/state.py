"""Abstract machine state: typed registers, byte-granular stack slots, call frames.

Mirrors the kernel's bpf_reg_state / bpf_stack_state / bpf_func_state: a register
has a type; pointers carry a fixed offset `off` plus a variable offset in the
inherited `Bounds`; packet pointers carry the proven `range` and an `id` shared
by pointers derived from one another; map values carry their map.

Sharing rule (what makes branching and checkpoints cheap): a `Reg` or
`StackSlot` is mutable only while private, i.e. freshly built or copied; once
stored in a frame it is never changed again, only replaced.  Copying a state
therefore copies the lists of references, not the registers (copy-on-write),
and pruning can take two identical objects as equal without looking inside.
"""

from __future__ import annotations

import enum

from .scalar import Bounds

MAX_BPF_STACK = 512
MAX_CALL_FRAMES = 8
SLOT = 8  # bytes per stack slot


class RegType(enum.Enum):
    """Register types with the names the kernel's log prints (reg_type_str), and what each is.

    `is_pointer`, `is_pkt` and `maybe_null` are plain member attributes set where the
    members are made (not properties: the interpreter asks them on every instruction)."""

    is_pointer: bool  # (declared for type checkers: annotations alone make no enum members)
    is_pkt: bool
    maybe_null: bool

    def __new__(cls, log_name: str, is_pointer: bool = True, is_pkt: bool = False, maybe_null: bool = False):
        member = object.__new__(cls)
        member._value_ = log_name
        member.is_pointer, member.is_pkt, member.maybe_null = is_pointer, is_pkt, maybe_null
        return member

    NOT_INIT = ("?", False)
    SCALAR = ("scalar", False)
    CTX = ("ctx",)
    MAP_PTR = ("map_ptr",)
    MAP_VALUE = ("map_value",)
    MAP_VALUE_OR_NULL = ("map_value_or_null", True, False, True)
    MAP_KEY = ("map_key",)
    STACK = ("fp",)
    PKT = ("pkt", True, True)
    PKT_META = ("pkt_meta", True, True)
    PKT_END = ("pkt_end",)
    MEM = ("mem",)  # mem_size bytes (a global function's pointer argument)
    MEM_OR_NULL = ("mem_or_null", True, False, True)
    RINGBUF_MEM = ("ringbuf_mem",)  # a ringbuf_reserve record after the null check
    RINGBUF_MEM_OR_NULL = ("ringbuf_mem_or_null", True, False, True)
    SOCKET = ("sock",)  # struct bpf_sock (sk_lookup_tcp/udp), a reference
    SOCKET_OR_NULL = ("sock_or_null", True, False, True)
    SOCK_COMMON = ("sock_common",)  # struct bpf_sock, common fields only (skc_lookup_tcp)
    SOCK_COMMON_OR_NULL = ("sock_common_or_null", True, False, True)
    XDP_SOCK = ("xdp_sock",)  # struct bpf_xdp_sock: an xskmap lookup after the NULL check
    FUNC = ("func",)  # address of a subprogram (bpf_loop callbacks); `off` is its first slot
    # PTR_TO_BTF_ID: a kernel object of the BTF struct `btf_type` (verifier btf_ptr.py), by trust
    BTF_ID = ("ptr_",)  # no flag: referenced (ref_obj_id) or of old, unflagged origin
    BTF_ID_OR_NULL = ("ptr_or_null_", True, False, True)
    TRUSTED_BTF_ID = ("trusted_ptr_",)  # PTR_TRUSTED
    TRUSTED_BTF_ID_OR_NULL = ("trusted_ptr_or_null_", True, False, True)
    RCU_BTF_ID = ("rcu_ptr_",)  # MEM_RCU: valid inside the RCU section an XDP program runs in
    RCU_BTF_ID_OR_NULL = ("rcu_ptr_or_null_", True, False, True)
    UNTRUSTED_BTF_ID = ("untrusted_ptr_",)  # PTR_UNTRUSTED: readable (probe-read), never passed on
    # PTR_TO_MEM | MEM_RDONLY | PTR_UNTRUSTED: what a kernel object's `void *` (or other non-struct
    # pointer) field holds, and bpf_rdonly_cast to void: read anywhere (probe-read), never written
    RDONLY_UNTRUSTED_MEM = ("rdonly_untrusted_mem",)
    DYNPTR = ("dynptr_ptr",)  # const struct bpf_dynptr * (a user ring buffer callback's record)
    # PTR_TO_MEM | MEM_RDONLY: a bpf_dynptr_slice (verifier dynptr.py); `mem_size` bytes, read only
    RDONLY_MEM = ("rdonly_mem",)
    RDONLY_MEM_OR_NULL = ("rdonly_mem_or_null", True, False, True)

    __hash__ = object.__hash__  # members are singletons: identity hashing, in C (states hash types a lot)


# The members as module constants: `RegType.X` is a class-attribute lookup (~100 ns) on
# every use, and the interpreter asks for them on every instruction.
T_NOT_INIT, T_SCALAR, T_CTX, T_MAP_PTR = RegType.NOT_INIT, RegType.SCALAR, RegType.CTX, RegType.MAP_PTR
# The register types that are not pointers (every other member's is_pointer is True): what
# is_pointer_type compares against by identity.
_NOT_POINTERS = tuple(t for t in RegType if not t.is_pointer)
assert _NOT_POINTERS == (T_NOT_INIT, T_SCALAR), _NOT_POINTERS  # is_pointer_type's two comparisons


def is_pointer_type(t) -> bool:  # types: state.pxd
    """`t.is_pointer`, as two identity comparisons: compiled, a C call instead of an attribute
    read on an Enum member (a type lookup through the Enum class and a read of the member's dict)."""
    return t is not T_SCALAR and t is not T_NOT_INIT
T_MAP_VALUE, T_MAP_VALUE_OR_NULL, T_MAP_KEY, T_STACK = RegType.MAP_VALUE, RegType.MAP_VALUE_OR_NULL, RegType.MAP_KEY, RegType.STACK
T_PKT, T_PKT_META, T_PKT_END, T_MEM = RegType.PKT, RegType.PKT_META, RegType.PKT_END, RegType.MEM
T_MEM_OR_NULL, T_FUNC = RegType.MEM_OR_NULL, RegType.FUNC
T_RINGBUF_MEM, T_RINGBUF_MEM_OR_NULL = RegType.RINGBUF_MEM, RegType.RINGBUF_MEM_OR_NULL
T_SOCKET, T_SOCKET_OR_NULL = RegType.SOCKET, RegType.SOCKET_OR_NULL
T_SOCK_COMMON, T_SOCK_COMMON_OR_NULL = RegType.SOCK_COMMON, RegType.SOCK_COMMON_OR_NULL
T_XDP_SOCK, T_DYNPTR = RegType.XDP_SOCK, RegType.DYNPTR
SOCK_TYPES = frozenset({T_SOCKET, T_SOCK_COMMON, T_XDP_SOCK})
BTF_ID_TYPES = frozenset({RegType.BTF_ID, RegType.BTF_ID_OR_NULL, RegType.TRUSTED_BTF_ID, RegType.TRUSTED_BTF_ID_OR_NULL,
                          RegType.RCU_BTF_ID, RegType.RCU_BTF_ID_OR_NULL, RegType.UNTRUSTED_BTF_ID})

POINTER_TYPES = frozenset(t for t in RegType if t.is_pointer)
PKT_TYPES = frozenset(t for t in RegType if t.is_pkt)
MAYBE_NULL_TYPES = frozenset(t for t in RegType if t.maybe_null)


NON_NULL_OF = {RegType.MAP_VALUE_OR_NULL: RegType.MAP_VALUE, RegType.MEM_OR_NULL: RegType.MEM,
               RegType.RDONLY_MEM_OR_NULL: RegType.RDONLY_MEM,
               RegType.RINGBUF_MEM_OR_NULL: RegType.RINGBUF_MEM, RegType.SOCKET_OR_NULL: RegType.SOCKET,
               RegType.SOCK_COMMON_OR_NULL: RegType.SOCK_COMMON, RegType.BTF_ID_OR_NULL: RegType.BTF_ID,
               RegType.TRUSTED_BTF_ID_OR_NULL: RegType.TRUSTED_BTF_ID, RegType.RCU_BTF_ID_OR_NULL: RegType.RCU_BTF_ID}


class HashedKey:
    """A tuple with its hash computed once (made by `hashed_key`): a register's exact key,
    hashed once however many states hold the register, and a state's (pruning.exact_key),
    which the checker looks up several times.  Equal when the tuples are."""

    __slots__ = ("fields", "hash")

    def __init__(self, fields: tuple):
        self.fields = fields
        self.hash = hash(fields)

    def __hash__(self):
        return self.hash

    def __eq__(self, other):
        return isinstance(other, HashedKey) and self.hash == other.hash and self.fields == other.fields


def hashed_key(fields: tuple) -> HashedKey:  # types: state.pxd
    """HashedKey(fields) without the constructor call."""
    key = HashedKey.__new__(HashedKey)
    key.fields = fields
    key.hash = hash(fields)
    return key


class Reg(Bounds):
    __slots__ = ("type", "off", "id", "range", "map", "frameno", "mem_size", "ref_obj_id", "btf_type", "dynptr",
                 "_key")

    def __init__(self, type: RegType = T_NOT_INIT):
        self.type = type
        self.off = 0
        self.id = 0
        self.range = 0
        self.map = None  # MapDef for map_ptr / map_value(_or_null) / map_key
        self.frameno = 0
        self.mem_size = 0
        self.ref_obj_id = 0  # the reference (State.refs) this pointer is or derives from
        # BTF_ID_TYPES: the kernel struct pointed to (btf_ptr.KType); in an iterator's stack
        # slots, the iterator's type, state and depth (iterators.IterState)
        self.btf_type = None
        self.dynptr = None  # dynptr.py: a dynptr's (type, first slot, 0) or a slice's (type, False, dynptr id)
        self._key = None
        self.set_const_bounds(0)

    def copy(self) -> "Reg":
        """A private copy, free to change until it is stored in a frame."""
        new = Reg.__new__(Reg)
        new._key = None
        new.type = self.type
        new.off = self.off
        new.id = self.id
        new.range = self.range
        new.map = self.map
        new.frameno = self.frameno
        new.mem_size = self.mem_size
        new.ref_obj_id = self.ref_obj_id
        new.btf_type = self.btf_type
        new.dynptr = self.dynptr
        new.var_off = self.var_off
        new.smin = self.smin
        new.smax = self.smax
        new.umin = self.umin
        new.umax = self.umax
        new.s32_min = self.s32_min
        new.s32_max = self.s32_max
        new.u32_min = self.u32_min
        new.u32_max = self.u32_max
        return new

    def assign(self, other: "Reg") -> None:
        self.type = other.type
        self.off = other.off
        self.id = other.id
        self.range = other.range
        self.map = other.map
        self.frameno = other.frameno
        self.mem_size = other.mem_size
        self.ref_obj_id = other.ref_obj_id
        self.btf_type = other.btf_type
        self.dynptr = other.dynptr
        self.var_off = other.var_off
        self.smin = other.smin
        self.smax = other.smax
        self.umin = other.umin
        self.umax = other.umax
        self.s32_min = other.s32_min
        self.s32_max = other.s32_max
        self.u32_min = other.u32_min
        self.u32_max = other.u32_max

    # -- constructors -------------------------------------------------------------
    @staticmethod
    def unknown() -> "Reg":
        reg = Reg(T_SCALAR)
        reg.set_unknown_bounds()
        return reg

    @staticmethod
    def const(value: int) -> "Reg":
        return new_const_reg(value)

    @staticmethod
    def pointer(type: RegType, *, off: int = 0, map=None, id: int = 0, frameno: int = 0, ref_obj_id: int = 0,
                mem_size: int = 0, btf_type=None, dynptr=None) -> "Reg":
        reg: Reg = Reg.__new__(Reg)  # every field set once (Reg(type) would set most twice, through __init__)
        reg.type, reg.range, reg._key = type, 0, None
        reg.off, reg.map, reg.id, reg.frameno = off, map, id, frameno
        reg.ref_obj_id, reg.mem_size, reg.btf_type, reg.dynptr = ref_obj_id, mem_size, btf_type, dynptr
        reg.set_const_bounds(0)
        return reg

    def mark_unknown(self) -> None:
        self.type = T_SCALAR
        self.off = self.id = self.range = self.mem_size = self.frameno = self.ref_obj_id = 0
        self.map = self.btf_type = self.dynptr = None
        self.set_unknown_bounds()

    def mark_const(self, value: int) -> None:
        self.mark_unknown()
        self.set_const_bounds(value)

    def mark_not_init(self) -> None:
        self.mark_unknown()
        self.type = T_NOT_INIT

    # -- queries ------------------------------------------------------------------
    @property
    def is_scalar(self) -> bool:
        return self.type is T_SCALAR

    @property
    def is_init(self) -> bool:
        return self.type is not T_NOT_INIT

    def key(self) -> HashedKey:
        """Everything that distinguishes two register states (exact comparison); cached with
        its hash, as only stored (hence unchanging) registers are asked."""
        key = self._key
        if key is None and self.type is T_SCALAR and not self.range and self.map is None and not self.frameno \
                and not self.mem_size and not self.ref_obj_id and self.btf_type is None and self.dynptr is None:
            # a plain scalar (the common case in loops): only its id, delta and bounds, in a
            # shorter tuple, which never equals a full one
            key = self._key = hashed_key((self.id, self.off, self.var_off, self.smin, self.smax, self.umin, self.umax,
                                          self.s32_min, self.s32_max, self.u32_min, self.u32_max))
        elif key is None:
            key = self._key = hashed_key((
                self.type, self.off, self.id, self.range, id(self.map), self.frameno, self.mem_size, self.ref_obj_id,
                id(self.btf_type), self.dynptr, self.var_off,
                self.smin, self.smax, self.umin, self.umax, self.s32_min, self.s32_max, self.u32_min, self.u32_max))
        return key

    # -- shared, never-changing registers (callers must copy before changing them) -------
    @staticmethod
    def shared_const(value: int) -> "Reg":
        return shared_const_reg(value)

    @staticmethod
    def shared_unknown(size: int = 8) -> "Reg":
        """An unknown scalar of `size` bytes, zero-extended (what a load gives)."""
        return _UNKNOWN_OF_SIZE[size]


def new_const_reg(value) -> Reg:  # types: state.pxd
    """A new scalar register holding `value` (Reg.const)."""
    reg = Reg.__new__(Reg)  # every field set once (Reg() would set the bounds twice)
    reg.type = T_SCALAR
    reg.off = reg.id = reg.range = reg.frameno = reg.mem_size = reg.ref_obj_id = 0
    reg.map = reg._key = reg.btf_type = reg.dynptr = None
    reg.set_const_bounds(value)
    return reg


def shared_const_reg(value) -> Reg:  # types: state.pxd
    """The shared, never-changing register holding `value` (Reg.shared_const)."""
    value &= _U64
    consts = _CONSTS  # (compiled: a typed dict, its get() a C call, state.pxd)
    reg = consts.get(value)
    if reg is None:
        if len(consts) > 4096:
            consts.clear()
        reg = consts[value] = new_const_reg(value)
    return reg


_U64 = (1 << 64) - 1


def _unknown_of_size(size: int) -> Reg:
    from .scalar import truncate

    reg = Reg.unknown()
    truncate(reg, size)
    return reg


_CONSTS: dict[int, Reg] = {}
_UNKNOWN_OF_SIZE = {size: _unknown_of_size(size) for size in (1, 2, 4, 8)}
NOT_INIT = Reg()  # the shared uninitialised register


def stack_obj_spi(reg: Reg, obj_kind: str, nr_slots: int) -> tuple[int | None, str]:
    """stack_slot_obj_get_spi: the first slot of a `nr_slots`-slot object (a dynptr, an
    iterator) a stack pointer points to, or (None, the kernel's message, "" for -ERANGE:
    beyond the stack)."""
    if reg.var_off.mask:
        return None, f"{obj_kind} has to be at a constant offset"
    value = reg.var_off.value
    off = reg.off + (value - (1 << 64) if value >> 63 else value)
    if off % SLOT:
        return None, f"cannot pass in {obj_kind} at an offset={off}"
    spi = (-off - 1) // SLOT
    if spi + 1 < nr_slots:
        return None, f"cannot pass in {obj_kind} at an offset={off}"
    if spi >= MAX_BPF_STACK // SLOT:  # is_spi_bounds_valid: beyond the stack the function has
        return None, ""
    return spi, ""


class StackSlot:
    """Eight bytes of stack: per-byte kind, plus the spilled register if any.

    `kinds[j]` describes the byte at offset -(8*spi + j + 1) from the frame base,
    as the kernel indexes slot_type[]: '?' invalid, 'm' misc, '0' zero, 'r' spill,
    'd' a dynptr's (both slots of one are all 'd'; `spilled` is its dynptr_ptr register,
    which says which slot is the first: verifier dynptr.py).
    """

    __slots__ = ("kinds", "spilled")

    def __init__(self):
        self.kinds = ["?"] * SLOT
        self.spilled: Reg | None = None

    def copy(self) -> "StackSlot":
        """A private copy (the spilled register is shared: registers are never changed in place)."""
        new = StackSlot.__new__(StackSlot)
        new.kinds = list(self.kinds)
        new.spilled = self.spilled
        return new

    @property
    def is_spill(self) -> bool:
        return self.kinds[SLOT - 1] == "r"

    def key(self) -> tuple:  # types: state.pxd
        spilled = self.spilled
        return (tuple(self.kinds), spilled.key() if spilled is not None else None)


class Frame:
    """One function's registers and stack (bpf_func_state).

    `owned` holds the stack slots this frame may change in place (created or
    copied since the frame was last copied); every other slot is shared.
    """

    __slots__ = ("regs", "stack", "frameno", "callsite", "subprog", "callback", "owned", "callback_depth")

    def __init__(self, frameno: int = 0, callsite: int = -1, subprog: int = 0, callback: "bool | str" = False):
        self.regs = [NOT_INIT] * 11
        self.stack: dict[int, StackSlot] = {}
        self.owned: set[int] = set()
        self.frameno = frameno
        self.callsite = callsite
        self.subprog = subprog
        self.callback = callback  # a sync callback: its exit returns to the call insn (callbacks.ASYNC: a timer's)
        self.callback_depth = 0  # callbacks this frame's bpf_loop call has run so far (callback_depth)
        self.regs[10] = Reg.pointer(T_STACK, frameno=frameno)

    def copy(self) -> "Frame":
        """Copy-on-write: both frames share registers and slots from now on."""
        new = Frame.__new__(Frame)
        new.regs = list(self.regs)
        new.stack = dict(self.stack)
        new.owned = set()
        self.owned = set()
        new.frameno, new.callsite, new.subprog, new.callback = self.frameno, self.callsite, self.subprog, self.callback
        new.callback_depth = self.callback_depth
        return new

    def slot(self, spi) -> StackSlot:  # types: state.pxd
        """The slot at `spi`, private to this frame so that it may be changed."""
        if spi in self.owned:
            return self.stack[spi]
        slot = self.stack.get(spi)
        slot = self.stack[spi] = StackSlot() if slot is None else slot.copy()
        self.owned.add(spi)
        return slot

    def replace_regs(self, change, reg_id=None) -> None:  # types: state.pxd
        """Replace every register (spilled ones too) for which change(reg) returns a new one;
        with `reg_id`, change is asked only about registers with that id (the callers'
        changes all start by requiring it, and most registers fail it)."""
        regs = self.regs
        for i in range(11) if reg_id is None else [i for i, reg in enumerate(regs) if reg.id == reg_id]:
            new = change(regs[i])
            if new is not None:
                regs[i] = new
        for spi, slot in list(self.stack.items()):
            spilled = slot.spilled
            if spilled is not None and (reg_id is None or spilled.id == reg_id):
                new = change(spilled)
                if new is not None:
                    self.slot(spi).spilled = new

    def byte_kind(self, off: int) -> str:
        """Kind of the stack byte at frame offset `off` (negative)."""
        spi, j = divmod(-off - 1, SLOT)
        slot = self.stack.get(spi)
        return slot.kinds[j] if slot is not None else "?"

    def all_regs(self):
        yield from self.regs
        for slot in self.stack.values():
            if slot.spilled is not None:
                yield slot.spilled


class State:
    """The whole machine: the stack of call frames (bpf_verifier_state), how many
    may_goto fall-throughs the path has taken (may_goto_depth), the references it holds
    (`refs`: (id, insn that acquired it) in acquisition order, Linux 6.13+ keeps them
    per state) and the spin lock it holds (`lock`: (map name or "", pointer id), or None)."""

    __slots__ = ("frames", "may_goto_depth", "refs", "lock")

    def __init__(self, frames: list[Frame], may_goto_depth: int = 0, refs: tuple = (), lock=None):
        self.frames = frames
        self.may_goto_depth = may_goto_depth
        self.refs = refs
        self.lock = lock

    @property
    def cur(self) -> Frame:
        return self.frames[-1]

    @property
    def regs(self) -> list[Reg]:
        frame: Frame = self.frames[-1]  # typed: a slot read in the compiled build
        return frame.regs

    def copy(self) -> "State":
        frames = []
        for frame in self.frames:  # (typed: Frame.copy a C call compiled)
            frames.append(frame.copy())
        return State(frames, self.may_goto_depth, self.refs, self.lock)

    def all_regs(self):
        for frame in self.frames:
            yield from frame.all_regs()

    def replace_regs(self, change, reg_id=None) -> None:  # types: state.pxd
        for frame in self.frames:
            frame.replace_regs(change, reg_id)

    def key(self) -> tuple:
        return tuple(
            (f.callsite, f.callback_depth, tuple(r.key() for r in f.regs), tuple(sorted((s, v.key()) for s, v in f.stack.items())))
            for f in self.frames
        ) + (self.may_goto_depth, self.refs, self.lock)
