"""The abstract interpreter: a path-sensitive walk over every branch (kernel do_check).

One current state is stepped instruction by instruction; a conditional jump whose
outcome the bounds cannot decide pushes the taken side and continues with the
fall-through.  At prune points the state is compared with those already proven
safe there (`pruning.states_safe`) and the path ends when one subsumes it.
Every check raises `Reject` with the kernel's wording.
"""

from __future__ import annotations

from ..ebpf.insn import Instruction
from ..ebpf.opcodes import AtomicOp, PseudoSrc
from ..elf.model import MapType, Program, RelocKind
from ..errors import XdpError
from . import backtrack, branches, callbacks, codes, dynptr, iterators, linked, map_fields, precision, pruning
from .branches import branch_taken, refine
from .pruning import ALL_PRECISE, exact_key, first_difference, hinted_miss, quick_hint, quick_miss
from .backtrack import precise_of
from .cfg import ADDR_SPACE_CAST, CODE, PC, SIZE_OF_CODE, Cfg, build_cfg
from .facts import record
from .fastcall import Fastcall
from .fields import record_of, spin_lock_of
from .fastpath import decode_cond_jmp, specialise
from .handler import Handler
from ..platform.helpers import FASTCALL_INLINED, HELPER_ID, Arg, Helper, Ret, helper_name, map_func_compatible
from ..platform.kfuncs import NOT_FOR_XDP, OTHER_XDP_KFUNCS, SLEEPABLE_FOR_XDP, XDP_KFUNCS
from ..platform.maps import BPF_F_INNER_MAP, map_prog_can_read, map_prog_can_write
from ..platform import sock as bpf_sock
from .log import align_comment, format_frame, kernel_insn_text, unum
from .log import clear_cache as clear_log_cache
from .profiles import Profile
from .result import Reject
from .subprogs import ArgKind, GlobalArg, GlobalFunc, global_funcs
from .scalar import S64_MIN, clear_caches, scalar_alu, scalar_neg, sign_extend, truncate
from ..platform.ctx import CtxKind, attach_of, readable as ctx_readable
from .state import MAX_BPF_STACK, MAX_CALL_FRAMES, NON_NULL_OF, NOT_INIT, SLOT, SOCK_TYPES, Frame, Reg, State
from .state import BTF_ID_TYPES, RegType, is_pointer_type
from . import btf_ptr
from .tnum import U32, Tnum
from .tnum import UNKNOWN as TNUM_UNKNOWN
from .codes import (
    ALU, ALU64, MODE_MEMSX, OP_JCOND, STX, X,
    OP_ADD, OP_AND, OP_ARSH, OP_CALL, OP_DIV, OP_END, OP_EXIT, OP_JA, OP_JEQ, OP_JGE, OP_JGT, OP_JLE, OP_JLT, OP_JNE,
    OP_LSH, OP_MOD, OP_MOV, OP_MUL, OP_NEG, OP_OR, OP_RSH, OP_SUB, OP_XOR,
)
from .state import (
    T_CTX, T_FUNC, T_MAP_KEY, T_MAP_PTR, T_MAP_VALUE, T_MAP_VALUE_OR_NULL, T_MEM, T_MEM_OR_NULL, T_NOT_INIT, T_PKT,
    T_PKT_END, T_RINGBUF_MEM, T_RINGBUF_MEM_OR_NULL, T_SOCK_COMMON, T_SOCK_COMMON_OR_NULL, T_SOCKET, T_SOCKET_OR_NULL, T_XDP_SOCK,
    T_PKT_META, T_SCALAR, T_STACK,
)

INSN_LIMIT = 1_000_000  # BPF_COMPLEXITY_LIMIT_INSNS
JMP_SEQ_LIMIT = 8192  # BPF_COMPLEXITY_LIMIT_JMP_SEQ
MAX_PACKET_OFF = 0xFFFF
MAX_VAR_OFF = 1 << 29  # BPF_MAX_VAR_OFF
MAX_VAR_SIZ = 1 << 29  # BPF_MAX_VAR_SIZ
STATES_PER_INSN = 64
# is_state_visited: an open checkpoint at a callback call is no longer compared after more
# than 64 * (hits + 1) misses (its `n` for force checkpoints with branches), so that a walk
# whose callback never converges costs the kernel's linear time, not quadratic
CALLSITE_MISSES = 64
ALWAYS_EXACT_KEYS = False  # tests: exact keys for every program (they must change nothing without loops)
# What _visit does at an instruction (Checker._visit_kind, kept in the walk's steps):
# nothing, or a prune point -- plain, or a forced checkpoint of one kind
VISIT_NONE, VISIT_PLAIN, VISIT_CALLBACK, VISIT_MAY_GOTO, VISIT_ITER_NEXT = range(5)
END = -1  # what a jump handler returns at the program's final exit
_LD_IMM64, _ATOMIC_STX = codes.LD_IMM64, codes.ATOMIC_STX
_PC_AT, _CODE_AT = PC, CODE  # a cfg row's fields: C integer indices compiled (checker.pxd)
_NEGATE = branches.NEGATE  # a module name: read per conditional jump on unknown values
# What helper_call compares a helper's return with: module names, not Enum class attribute reads
_RET_MAP_VALUE_OR_NULL, _RET_DYNPTR_MEM_OR_NULL, _RET_VOID = Ret.MAP_VALUE_OR_NULL, Ret.DYNPTR_MEM_OR_NULL, Ret.VOID

# The register type a read of an xdp_md field gives (None: a u32 scalar).
CTX_KIND_TYPES = {CtxKind.PACKET: T_PKT, CtxKind.PACKET_END: T_PKT_END, CtxKind.PACKET_META: T_PKT_META, CtxKind.SCALAR: None}

# bpf_alu_string[]: how the kernel's messages name ALU operators.
ALU_STRING = {OP_ADD: "+=", OP_SUB: "-=", OP_MUL: "*=", OP_DIV: "/=", OP_OR: "|=",
              OP_AND: "&=", OP_LSH: "<<=", OP_RSH: ">>=", OP_NEG: "neg", OP_MOD: "%=",
              OP_XOR: "^=", OP_MOV: "=", OP_ARSH: "s>>=", OP_END: "endian"}

# check_reg_type's lists of acceptable register types, as printed after "expected=".
MEM_TYPES = "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_"
EXPECTED = {
    Arg.CONST_MAP_PTR: ("map_ptr", {T_MAP_PTR}),
    Arg.CTX: ("ctx", {T_CTX}),
    Arg.CONST_SIZE: ("scalar", {T_SCALAR}),
    Arg.CONST_SIZE_OR_ZERO: ("scalar", {T_SCALAR}),
    Arg.CONST_ALLOC_SIZE: ("scalar", {T_SCALAR}),
    Arg.CALLBACK: ("func", {T_FUNC}),
    Arg.SOCK_COMMON: ("sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_",
                      {T_SOCK_COMMON, T_SOCKET, T_XDP_SOCK, RegType.BTF_ID, RegType.TRUSTED_BTF_ID}),
    Arg.RINGBUF_MEM: ("ringbuf_mem", {T_RINGBUF_MEM}),
    Arg.SPIN_LOCK: ("map_value, ptr_", {T_MAP_VALUE}),
    Arg.TIMER: ("map_value", {T_MAP_VALUE}),
    Arg.STACK_OR_NULL: ("fp", {T_STACK}),
    Arg.TASK: ("ptr_, trusted_ptr_, rcu_ptr_", {RegType.BTF_ID, RegType.TRUSTED_BTF_ID, RegType.RCU_BTF_ID}),  # btf_ptr_types
}
T_RDONLY_MEM = RegType.RDONLY_MEM
# Enum members compared per helper argument (_check_arg) and per ld_imm64 (ld): module names, as an
# Enum class attribute is read through its metaclass's __getattr__ hook (about 4x a module name).
(_ARG_ANYTHING, _ARG_CONST_ALLOC_SIZE, _ARG_CONST_MAP_PTR, _ARG_CONST_SIZE, _ARG_CONST_SIZE_OR_ZERO, _ARG_CTX,
 _ARG_DONTCARE, _ARG_MAP_KEY, _ARG_MAP_VALUE, _ARG_MEM, _ARG_MEM_OR_NULL, _ARG_SOCK_COMMON, _ARG_SPIN_LOCK,
 _ARG_TASK, _ARG_TIMER, _ARG_UNINIT_MAP_VALUE, _ARG_UNINIT_MEM, _ARG_UNSUPPORTED) = (
    Arg.ANYTHING, Arg.CONST_ALLOC_SIZE, Arg.CONST_MAP_PTR, Arg.CONST_SIZE, Arg.CONST_SIZE_OR_ZERO, Arg.CTX,
    Arg.DONTCARE, Arg.MAP_KEY, Arg.MAP_VALUE, Arg.MEM, Arg.MEM_OR_NULL, Arg.SOCK_COMMON, Arg.SPIN_LOCK, Arg.TASK,
    Arg.TIMER, Arg.UNINIT_MAP_VALUE, Arg.UNINIT_MEM, Arg.UNSUPPORTED)
(_PSEUDO_FUNC, _PSEUDO_IMM, _PSEUDO_MAP_FD, _PSEUDO_MAP_IDX, _PSEUDO_MAP_IDX_VALUE, _PSEUDO_MAP_VALUE) = (
    PseudoSrc.FUNC, PseudoSrc.IMM, PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX, PseudoSrc.MAP_IDX_VALUE, PseudoSrc.MAP_VALUE)
(_RELOC_EXTERN, _RELOC_KFUNC, _RELOC_MAP, _RELOC_MAP_VALUE) = (
    RelocKind.EXTERN, RelocKind.KFUNC, RelocKind.MAP, RelocKind.MAP_VALUE)
# What an acquiring helper returns: the register type (not yet checked for NULL).
RET_TYPES = {Ret.SOCKET_OR_NULL: T_SOCKET_OR_NULL, Ret.SOCK_COMMON_OR_NULL: T_SOCK_COMMON_OR_NULL,
             Ret.RINGBUF_MEM_OR_NULL: T_RINGBUF_MEM_OR_NULL}
MEM_REG_TYPES = {T_STACK, T_PKT, T_PKT_META, T_MAP_KEY, T_MAP_VALUE, T_MEM, T_RINGBUF_MEM, RegType.TRUSTED_BTF_ID}
# ARG_PTR_TO_FIXED_SIZE_MEM | MEM_WRITE | MEM_ALIGNED: bytes the helper writes, at an aligned address
FIXED_SIZE = {Arg.FIXED_MEM4: 4, Arg.FIXED_MEM8: 8}
for _arg in (Arg.MAP_KEY, Arg.MAP_VALUE, Arg.UNINIT_MAP_VALUE, Arg.MEM, Arg.MEM_OR_NULL, Arg.UNINIT_MEM, *FIXED_SIZE):
    EXPECTED[_arg] = (MEM_TYPES, MEM_REG_TYPES)


class Entry:
    """A checkpointed state at a prune point; `branches` counts unfinished paths through it."""

    __slots__ = ("state", "pc", "parent", "branches", "key", "hits", "misses", "hint", "quick", "marks", "hist", "loose",
                 "open_hint")

    def __init__(self, state: State, pc: int, parent: "Entry | None", key):
        self.state, self.pc, self.parent, self.key = state, pc, parent, key
        self.branches = 1
        self.hits = self.misses = 0
        self.hint = None  # the register that made the last comparison fail
        self.quick = None  # pruning.quick_hint: what that register must hold to match
        self.marks = None  # backtrack.py: [registers, slots] per frame whose values mattered after it
        self.hist = None  # backtrack.py: the path from the parent checkpoint to this one
        self.loose = False  # its marks are not final: prune by precision.py's alone
        self.open_hint = None  # where comparisons while it is still open failed: (hint, quick) (iterators.converged)


class Checker:
    def __init__(self, program: Program, profile: Profile, log_level: int = 0, collect_facts: bool = True,
                 btf_path: str | None = None, insn_limit: int | None = None):
        self.program = program
        self.insn_limit = INSN_LIMIT if insn_limit is None else insn_limit  # processed insns before "too large"
        # BTF-typed kernel pointers, typed by the kernel's BTF (btf_path, else the running kernel's)
        self.btf_ptrs = btf_ptr.BtfPointers(self, btf_path, _gpl_compatible(program.license))
        self.attach = attach_of(program.attach_type)
        self.profile = profile
        self.log_level = log_level
        self.collect_facts = collect_facts
        self.maps = dict(program.object.maps) if program.object is not None else {}
        self.btf = program.object.btf if program.object is not None else None  # map values' special fields
        self.insns = program.insns
        self.cfg: Cfg | None = None
        self.exact_keys = True  # whether _visit looks for infinite loops (run: whether the program can loop)
        self.lines: list[str] = []
        self.processed = 0
        self.total_states = 0
        self.peak_states = 0
        self.cur_states = 0
        self.max_states_per_insn = 0
        self.id_gen = 0
        self.stack_depth: dict[int, int] = {}
        self.facts: dict = {}
        self.done: dict[int, list[Entry]] = {}  # completed checkpoints per pc
        self.active: dict[int, dict] = {}  # in-progress checkpoints per pc, by exact key
        self.pending: list = []
        self.head: Entry | None = None
        self.state: State | None = None
        self.scratched: set[int] = set()
        self.scratched_slots: set[int] = set()
        self.jmps = 0
        self.pc = 0  # the instruction being interpreted (observations are noted against it)
        self.checkpoint_jmps = self.checkpoint_insns = 0  # jumps and insns processed at the last new checkpoint
        self.live_in: list = []  # cfg.live_in, once built
        # the profile's privilege facts read per instruction: typed fields (checker.pxd), not a
        # property call on the profile at each use
        self.allow_uninit = profile.allow_uninit_stack
        self.allow_ptr_leaks = profile.allow_ptr_leaks
        self.privileged = profile.privileged
        self.prev_line = None
        # Imprecise scalars match any scalar when pruning (as in the kernel), except when
        # collecting facts: those describe every path, so no path may be pruned by a
        # state that differs in any value.
        self.relax_imprecise = not collect_facts
        self.observed = precision.Observed(range_checked=profile.rules is not None)
        self.global_funcs: dict = {}  # start pc -> subprogs.GlobalFunc
        self.called_globals: set[int] = set()  # global functions a walked path called
        self.async_subprogs: set[int] = set()  # subprograms walked as timer callbacks (callbacks.py)
        self.fastcall: Fastcall | None = None  # spill/fill patterns around inlined helper calls, if any
        self._precision: precision.Precision | None = None  # built at the first comparison
        # path-sensitive precision (backtrack.py) where imprecise scalars may match; the nfp
        # rules' range checks are precision.py's only
        self.track = backtrack.Tracker(self) if self.relax_imprecise and profile.rules is None else None
        self.hist: list = []
        clear_caches()
        clear_log_cache()

    # -- driver ----------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self.cfg = build_cfg(self.insns, allow_loops=self.profile.allow_loops,
                                 helper_args=_helper_args(self.profile.helpers))
        except Exception:
            self._add_kfunc_calls(self.insns)  # its refusals come before check_cfg's (the kernel's order)
            raise
        self._add_kfunc_calls([self.cfg.by_pc[pc] for pc in self.cfg.calls])  # (no pass over every insn)
        # Exact keys find a state met again on its own path (an infinite loop); a program
        # with no back-edge, callback, may_goto or iterator never meets one (see _visit).
        self.exact_keys = bool(ALWAYS_EXACT_KEYS or self.cfg.loop_heads or self.cfg.callback_calls
                               or self.cfg.may_gotos or self.cfg.iter_nexts)
        if self.cfg.fp_spills:  # a pattern starts with an 8-byte spill through r10: none, nothing to build
            fastcall = Fastcall(self.cfg, self.profile.helpers, FASTCALL_INLINED)
            self.fastcall = fastcall if fastcall.any else None
        rules = self.profile.rules
        if rules is not None:
            rules.check_program(self)
        self.global_funcs = global_funcs(self.program, self.cfg.subprog_starts)
        frame = Frame()
        frame.regs[1] = Reg.pointer(T_CTX)
        self.live_in = self.cfg.live_in
        steps = self._steps()
        self._walk(steps, State([frame]), 0)
        self._check_global_funcs(steps)
        if rules is not None:
            rules.check_finish(self)  # bpf_prog_offload_finalize runs before check_max_stack_depth
        self._check_stack_depth()
        if rules is not None:
            rules.check_translate(self)  # the device JIT, after verification

    def _steps(self) -> list:
        """pc -> (instruction, its handler, the slot after it, what _visit does there), a list by slot."""
        cfg = self.cfg
        by_class = self.handlers_by_class()
        steps: list = [None] * cfg.slots
        prune_points, visit_errors = cfg.prune_points, cfg.visit_errors
        callback_calls, may_gotos, iter_nexts = cfg.callback_calls, cfg.may_gotos, cfg.iter_nexts  # (read once)
        for insn, row in zip(self.insns, cfg.rows):
            pc, code = row[_PC_AT], row[_CODE_AT]
            error = visit_errors.get(pc) if visit_errors else None
            if error is None:  # (the row's code: no attribute read of the instruction's)
                handler = specialise(self, insn, _general_of(by_class, code), row)
            elif error is ADDR_SPACE_CAST:
                handler = CallHandler(self._addr_space_cast)
            else:
                handler = CallHandler(self._refusal(error))
            steps[pc] = (insn, handler, pc + (2 if code == _LD_IMM64 else 1),
                         _visit_kind(pc, callback_calls, may_gotos, iter_nexts) if pc in prune_points else VISIT_NONE)
        return steps

    def _refusal(self, message: str):
        """The handler of an instruction refused when reached (check_alu_op reads dst first)."""
        def refuse(insn: Instruction) -> None:
            self.read_reg(insn.dst)
            raise Reject(message)
        return refuse

    def _addr_space_cast(self, insn: Instruction) -> None:
        """check_alu_op, BPF_ADDR_SPACE_CAST: a cast between arena and kernel addresses, for
        programs that use an arena map (prog->aux->arena)."""
        if not any(i.reloc is not None and i.reloc.map in self.maps and self.maps[i.reloc.map].type == MapType.ARENA
                   for i in self.insns if i.is_ld_imm64):
            raise Reject("addr_space_cast insn can only be used in a program that has an associated arena")
        raise XdpError(f"verifier: addr_space_cast at insn {insn.pc} (arena pointers) is not implemented")

    def _check_global_funcs(self, steps: list) -> None:
        """do_check_subprogs: each global function a verified path called, checked on its
        own from its prototype, in subprogram order, until no new one was called."""
        verified = set()
        while True:
            due = [f for start, f in sorted(self.global_funcs.items())
                   if start in self.called_globals and start not in verified]
            if not due:
                return
            for func in due:
                verified.add(func.start)
                if self.log_level:
                    self.lines.append(f"Validating {func.name}() func#{func.index}...")
                frame = Frame(0, -1, func.index)
                for regno, arg in enumerate(func.args, 1):
                    frame.regs[regno] = self._global_arg_reg(func, regno, arg)
                self._walk(steps, State([frame]), func.start)
                if self.log_level:
                    self.lines.append(f"Func#{func.index} ('{func.name}') is safe for any args that match its prototype")

    def _global_arg_reg(self, func: GlobalFunc, regno: int, arg: GlobalArg) -> Reg:
        """The register a global function starts with for one argument (do_check_common)."""
        if arg.kind is ArgKind.TRUSTED:
            kt = self.btf_ptrs.global_arg_type(func.name, regno - 1, arg.struct)
            return self.btf_ptrs.global_arg_reg(kt, arg.nullable)
        if arg.kind is ArgKind.CTX:
            return Reg.pointer(T_CTX)
        if arg.kind is ArgKind.SCALAR:
            return Reg.shared_unknown()
        if arg.kind is ArgKind.DYNPTR:  # a LOCAL dynptr, read only (do_check_common)
            return dynptr.dynptr_reg(dynptr.DynptrType.LOCAL, True, self.new_id())
        reg = Reg.pointer(T_MEM_OR_NULL if arg.nullable else T_MEM, id=self.new_id())
        reg.mem_size = arg.size
        return reg

    def _walk(self, steps: list, state: State, pc) -> None:  # types: checker.pxd
        """do_check from `pc` with `state` until every path ended (at the final exit or
        pruned); explored states are the walk's own (free_states after each function).
        Compiled, pc and the step's fields are C integers and _visit/_pop/_end_path C calls."""
        self.state = state
        self.done, self.active, self.pending, self.head = {}, {}, [], None
        self.hist = []
        self.checkpoint_jmps, self.checkpoint_insns = self.jmps, self.processed
        rules = self.profile.rules
        log_level, collect_facts = self.log_level, self.collect_facts
        if log_level:
            self.lines.append(f"{pc}: {format_frame(state.cur)}")
        per_insn_checks = collect_facts or rules is not None or log_level
        track = self.track is not None
        try:
            while True:
                step = steps[pc]
                insn, handler, after, visit_kind = step
                self.processed += 1  # before the pruning check, as the kernel's do_check counts
                if self.processed > self.insn_limit:
                    raise Reject(f"BPF program is too large. Processed {self.processed} insn", pc)
                if visit_kind and self._visit(pc, visit_kind):
                    popped = self._pop()
                    if popped is None:
                        break
                    pc = popped
                    continue
                self.pc = pc
                if track:
                    self.hist.append(pc)
                if per_insn_checks:
                    if collect_facts:
                        self._record_facts(insn)
                    if rules is not None:
                        rules.check_insn(self, insn)
                    if log_level:
                        self.scratched.clear()
                        self.scratched_slots.clear()
                nxt = handler.run(insn)
                if log_level:
                    self._log_insn(insn)
                if nxt is None:  # not a jump: the next slot
                    pc = after
                elif nxt >= 0:
                    pc = nxt
                else:  # the final exit
                    self._end_path()
                    popped = self._pop()
                    if popped is None:
                        break
                    pc = popped
        except Reject as reject:
            if reject.pc is None:
                reject.pc = pc
            raise

    def _add_kfunc_calls(self, insns: list) -> None:
        """add_kfunc_call, before any other pass, over `insns` (every call, or every instruction
        when build_cfg refused the program): kfuncs are for GPL-compatible programs only, and
        the metadata kfuncs for device-bound programs only (xdptool checks host loads)."""
        call = codes.CALL
        for insn in insns:
            if insn.code != call or insn.src != 2:
                continue
            if not _gpl_compatible(self.program.license):
                raise Reject("cannot call kernel function from non-GPL compatible program", insn.pc)
            kfunc = XDP_KFUNCS.get(insn.reloc.symbol) if insn.reloc is not None else None
            if kfunc is not None and kfunc.dev_bound:
                raise Reject("metadata kfuncs require device-bound program", insn.pc)

    def handlers_by_class(self) -> tuple:
        """Instruction class -> the handler of the method that interprets it (atomics aside)."""
        ld, ldx, store, alu, jmp = LdHandler(self), LdxHandler(self), StoreHandler(self), AluHandler(self), JmpHandler(self)
        return (ld, ldx, store, store, alu, jmp, jmp, alu, AtomicHandler(self))

    def general_handler(self, insn: Instruction, by_class: tuple | None = None) -> Handler:
        """The handler that interprets `insn` in every case (fastpath adds cases on constants);
        `by_class` is handlers_by_class(), when the caller asks for many instructions."""
        return _general_of(by_class or self.handlers_by_class(), insn.code)

    def _record_facts(self, insn: Instruction) -> None:
        divisor = insn.src if insn.is_alu and insn.uses_reg_src and insn.op in (OP_DIV, OP_MOD) else None
        record(self.facts, insn.pc, self.state, divisor, self.cfg.live_in[insn.pc])

    def _pop(self) -> int | None:
        if not self.pending:
            return None
        state, pc, prev, head, self.hist = self.pending.pop()
        self.state, self.head = state, head
        if self.log_level:
            self.lines.append(f"from {prev} to {pc}: {format_frame(state.cur)}")
        return pc

    def push(self, state: State, pc, prev) -> None:  # types: checker.pxd
        if self.head is not None:
            self.head.branches += 1
        self.pending.append((state, pc, prev, self.head, self.hist[:] if self.track is not None else None))
        if len(self.pending) > JMP_SEQ_LIMIT:
            raise Reject(f"The sequence of {len(self.pending)} jumps is too complex.", prev)

    def _end_path(self) -> None:
        entry: Entry | None = self.head
        while entry is not None:
            entry.branches -= 1
            if entry.branches:
                break
            active = self.active.get(entry.pc)
            if active is not None and active.get(entry.key) is entry:
                del active[entry.key]
            self.done.setdefault(entry.pc, []).append(entry)
            entry = entry.parent

    def _visit(self, pc, kind) -> bool:  # types: checker.pxd
        """is_state_visited: True when a proven-safe state here subsumes the current one.

        New checkpoints follow the kernel's heuristic: only after 2 jumps and 8
        instructions since the last one (always at bpf_loop calls).  The kernel's
        sparser checkpoints inside loops (every 20 jumps or 100 insns) are left
        out: they cost more in lost pruning than they save here.
        """
        live = self.live_in[pc]
        state: State = self.state
        entry: Entry
        callback = kind == VISIT_CALLBACK
        may_goto = kind == VISIT_MAY_GOTO
        iter_next = kind == VISIT_ITER_NEXT
        add = kind != VISIT_PLAIN or (self.jmps - self.checkpoint_jmps >= 2 and self.processed - self.checkpoint_insns >= 8)
        active = self.active.get(pc)
        key = None
        if active and may_goto:  # another iteration within the ranges of one still open ends the path
            depth = state.may_goto_depth
            for entry in active.values():
                if entry.state.may_goto_depth != depth and pruning.states_safe(
                        entry.state, state, live, self.allow_uninit):
                    self._pruned_by(entry)
                    self._end_path()
                    return True
        if active and iter_next and iterators.converged(self, active, state, live):
            return True
        if active:
            if callback:  # callback iterations converge by subsumption
                stale = None
                for entry in active.values():
                    if pruning.states_safe(entry.state, state, live, self.allow_uninit):
                        entry.hits += 1
                        self._pruned_by(entry)
                        self._end_path()
                        return True
                    entry.misses += 1
                    if entry.misses > (entry.hits + 1) * CALLSITE_MISSES:
                        stale = [entry] if stale is None else stale + [entry]
                if stale is not None:  # no longer compared here (its path still ends as usual)
                    for entry in stale:
                        del active[entry.key]
            elif not iter_next and self.exact_keys:  # (an iterator's _next is where iterations converge)
                key = exact_key(state, live)
                if key in active:
                    raise Reject(f"infinite loop detected at insn {pc}", pc)
        done = self.done.get(pc)
        if done:
            allow_uninit = self.allow_uninit
            precise = static = self._precise_at(pc) if self.relax_imprecise else ALL_PRECISE
            track = self.track is not None
            depth, regs = len(state.frames), state.frames[-1].regs
            for entry in done:
                if track:
                    precise = precise_of(entry.loose, entry.marks, static)
                quick = entry.quick
                if quick is not None:  # most entries end here
                    miss = hinted_miss(quick, depth, regs[quick[1]])
                else:
                    hint = entry.hint
                    miss = hint is not None and quick_miss(entry.state, state, hint, live, allow_uninit, precise)
                if not miss:
                    hint = entry.hint = first_difference(entry.state, state, live, allow_uninit, precise)
                    entry.quick = quick_hint(entry.state, hint)
                    if hint is None:
                        entry.hits += 1
                        self._pruned_by(entry)
                        if self.log_level:
                            self.lines.append(f"{pc}: safe")
                        self._end_path()
                        return True
                if add:
                    entry.misses += 1
            if len(done) > STATES_PER_INSN:  # drop states that keep missing (the kernel's miss_cnt)
                kept = self.done[pc] = [e for e in done if e.misses <= e.hits * 3 + 3]
                self.cur_states -= len(done) - len(kept)
        if not add:
            return False
        if key is None:  # (without loops, a checkpoint is never met again on its own path: any unique key)
            key = exact_key(state, live) if self.exact_keys else self.total_states
        if active is None:
            active = self.active[pc] = {}
        self.checkpoint_jmps, self.checkpoint_insns = self.jmps, self.processed
        entry = Entry(state.copy(), pc, self.head, key)
        entry.hist, self.hist = self.hist, []
        active[key] = entry
        self.head = entry
        self.total_states += 1
        self.cur_states += 1
        if self.cur_states > self.peak_states:
            self.peak_states = self.cur_states
        count = len(active) + (len(done) if done else 0)
        if count > self.max_states_per_insn:
            self.max_states_per_insn = count
        return False

    def _pruned_by(self, entry):  # types: checker.pxd
        """The current path ends here on the strength of `entry` (backtrack.py)."""
        if self.track is not None:
            self.track.propagate(entry)
            if entry.branches or entry.loose:
                self.track.hit_loose(entry)

    def _value_decided(self, regs_mask) -> None:  # types: checker.pxd
        """The scalars among the registers of this bit mask decided something here
        (mark_chain_precision).  A mask, not a tuple of register numbers: no allocation per call."""
        if self.track is not None:
            frame = self.state.frames[-1]  # (typed: slot reads compiled, not State.regs, a property)
            regs, mask = frame.regs, 0
            for regno in range(11):
                if regs_mask >> regno & 1:
                    reg = regs[regno]
                    if reg.type is T_SCALAR:
                        mask |= 1 << regno
            self.track.mark_regs(mask)

    def _note(self, kind, frameno=0, slots=0):  # types: checker.pxd
        """Annotate the current instruction in the path's history (backtrack.py): `slots` a
        mask of stack slots, or for LINKED the scalars a jump linked (linked.collect)."""
        if self.track is not None and self.hist:
            self.hist[-1] = (self.pc, kind, frameno, slots)

    def _precise_at(self, pc) -> tuple[int, int, int]:  # types: checker.pxd
        if self._precision is None:
            self._precision = precision.Precision(self.cfg, self.observed)
        return self._precision.at(pc)

    def _log_insn(self, insn: Instruction) -> None:
        line = insn.line
        if line is not None and line is not self.prev_line and line.source:
            self.lines.append(f"; {line.source.strip()} @ {line.file.rsplit('/', 1)[-1]}:{line.line}")
            self.prev_line = line
        text = f"{insn.pc}: {kernel_insn_text(insn)}"
        frame = self.state.cur
        regs = {r for r in self.scratched if frame.regs[r].type is not T_NOT_INIT}
        detail = format_frame(frame, regs, self.scratched_slots) if (regs or self.scratched_slots) else ""
        if self.log_level >= 2 and (insn.is_branch or insn.is_call):
            detail = format_frame(frame)
        self.lines.append(align_comment(text) + " " + detail if detail else text)

    # -- registers ---------------------------------------------------------------------------
    def read_reg(self, regno) -> Reg:  # types: checker.pxd
        frame = self.state.frames[-1]
        reg = frame.regs[regno]
        if self.log_level:  # (only the log shows what an instruction touched)
            self.scratched.add(regno)
        if reg.type is T_NOT_INIT:
            raise Reject(f"R{regno} !read_ok")
        return reg

    def write_reg(self, regno, value: Reg) -> None:  # types: checker.pxd
        if regno == 10:
            raise Reject("frame pointer is read only")
        if self.log_level:
            self.scratched.add(regno)
        frame = self.state.frames[-1]
        frame.regs[regno] = value

    def new_id(self) -> int:
        self.id_gen += 1
        return self.id_gen

    def is_pointer_value(self, reg: Reg) -> bool:
        return is_pointer_type(reg.type) and not self.allow_ptr_leaks

    # -- one instruction ---------------------------------------------------------------------
    def step(self, insn: Instruction) -> int | None:
        """Interpret one instruction: the next pc, or None at the program's final exit."""
        try:
            nxt = self.general_handler(insn).run(insn)
        except Reject as reject:
            if reject.pc is None:
                reject.pc = insn.pc
            raise
        if nxt is None:
            return insn.pc + insn.slots
        return nxt if nxt >= 0 else None

    # -- ALU -----------------------------------------------------------------------------------
    def alu(self, insn: Instruction) -> None:
        # the fields read once into locals (C integers compiled, checker.pxd), not a
        # dataclass attribute lookup at each use
        code, d, s = insn.code, insn.dst, insn.src
        op, is64 = code & 0xF0, code & 0x07 == ALU64
        if op == OP_MOV:
            self._mov(insn, is64)
            return
        if op in (OP_NEG, OP_END):
            dst = self.read_reg(d).copy()
            if is_pointer_type(dst.type):
                if self.is_pointer_value(dst):
                    raise Reject(f"R{d} pointer arithmetic prohibited")
                dst.mark_unknown()
            elif op == OP_NEG:
                scalar_neg(dst, is64)
            else:
                self._endian(dst, insn)
            dst.id = dst.off = 0
            self.write_reg(d, dst)
            return
        uses_reg = code & X
        if uses_reg:
            src = self.read_reg(s)
        else:
            imm = insn.imm
            src = Reg.shared_const(imm if is64 else imm & U32)
        dst = self.read_reg(d)
        if d == 10:
            raise Reject("frame pointer is read only")
        if is_pointer_type(dst.type) or is_pointer_type(src.type):
            self.observed.pointer_arith_at(insn.pc)
            self._value_decided((1 << s if is_pointer_type(dst.type) and uses_reg else 0)
                                | (1 << d if is_pointer_type(src.type) else 0))
            self.write_reg(d, self._pointer_alu(insn, dst, src, is64))
            return
        result = dst.copy()
        scalar_alu(result, op, src, is64)
        linked.link_after_alu(result, dst, op, src, is64, bool(uses_reg) and s == d, self.privileged)
        self.write_reg(d, result)

    def _mov(self, insn, is64):  # types: checker.pxd
        if not insn.code & X:
            self.write_reg(insn.dst, Reg.shared_const(insn.imm if is64 else insn.imm & U32))
            return
        src = self.read_reg(insn.src)
        if insn.dst == 10:
            raise Reject("frame pointer is read only")
        if is_pointer_type(src.type) and (insn.off or not is64):
            if self.is_pointer_value(src):
                raise Reject(f"R{insn.src} {'sign-extension' if insn.off else 'partial copy'} of pointer")
            self.write_reg(insn.dst, Reg.shared_unknown())
            return
        if insn.off or not is64:
            # a copy the narrowing or sign extension leaves unchanged stays linked to its source
            # (assign_scalar_id_before_mov): one below 2**(off-1), or fitting in 32 bits
            fits = src.umax < 1 << (insn.off - 1) if insn.off else src.umax <= U32
            if fits:
                src = self._before_mov(insn.src, src)
            result = src.copy()
            if not fits:
                result.id = result.off = 0
            if insn.off:
                sign_extend(result, insn.off, 64 if is64 else 32)
            else:
                truncate(result, 4)
            self.write_reg(insn.dst, result)
            return
        self.write_reg(insn.dst, self._before_mov(insn.src, src))  # the copy shares the (stored) source

    def _before_mov(self, regno, src):  # types: checker.pxd
        """The source of a copy, linked to it (linked.before_mov); the stored source is
        replaced, not changed."""
        new = linked.before_mov(src, self.new_id)
        if new is not src:
            self.state.regs[regno] = new
        return new

    def _endian(self, dst: Reg, insn: Instruction) -> None:
        size = insn.imm // 8
        if insn.code & 0x07 == ALU and not insn.code & X:  # to_le: a truncation on little endian
            truncate(dst, size)
            return
        if dst.is_const:
            value = int.from_bytes(dst.const_value.to_bytes(8, "little")[:size], "big")
            dst.set_const_bounds(value)
            return
        dst.set_unknown_bounds()
        truncate(dst, size)

    def _pointer_alu(self, insn, dst, src, is64):  # types: checker.pxd
        """adjust_ptr_min_max_vals: pointer +/- scalar keeps the pointer, anything else is refused."""
        op, d = insn.code & 0xF0, insn.dst
        if is_pointer_type(dst.type) and is_pointer_type(src.type):
            if op == OP_SUB and self.allow_ptr_leaks:
                return Reg.unknown()
            raise Reject(f"R{d} pointer {ALU_STRING[op]} pointer prohibited")
        ptr, off = (dst, src) if is_pointer_type(dst.type) else (src, dst)
        if not is64:
            if op == OP_SUB and self.allow_ptr_leaks:
                return Reg.unknown()
            raise Reject(f"R{d} 32-bit pointer arithmetic prohibited")
        if ptr.type.maybe_null:
            raise Reject(f"R{d} pointer arithmetic on {ptr.type.value} prohibited, null-check it first")
        known = off.is_const
        if ptr.type in (T_MAP_PTR, T_PKT_END) or ptr.type in SOCK_TYPES:
            if not (ptr.type is T_MAP_PTR and known and off.smin == 0 and op == OP_ADD):
                raise Reject(f"R{d} pointer arithmetic on {ptr.type.value} prohibited")
        if op in (OP_AND, OP_OR, OP_XOR):
            raise Reject(f"R{d} bitwise operator {ALU_STRING[op]} on pointer prohibited")
        if op not in (OP_ADD, OP_SUB):
            raise Reject(f"R{d} pointer arithmetic with {ALU_STRING[op]} operator prohibited")
        ptype = ptr.type  # (its log name only for a message: an enum's .value is slow)
        self._sane_offset(off, ptype, known)
        self._sane_offset(ptr, ptype, False, check_off=True)
        result = ptr.copy()
        if op == OP_SUB:
            if dst is off:
                raise Reject(f"R{d} tried to subtract pointer from scalar")
            if ptr.type is T_STACK:  # whatever the privileges (adjust_ptr_min_max_vals, BPF_SUB)
                raise Reject(f"R{d} subtraction from stack pointer prohibited")
        sign = 1 if op == OP_ADD else -1
        if known and -(1 << 31) <= ptr.off + sign * off.smin < (1 << 31):
            result.off = ptr.off + sign * off.smin
        else:
            _add_variable(result, ptr, off, sign)
            if ptr.type.is_pkt:
                result.id = self.new_id()
                result.range = 0
        if result.smin <= -MAX_VAR_OFF or result.smin >= MAX_VAR_OFF:
            raise Reject(f"value {result.smin} makes {ptype.value} pointer be out of bounds")
        return result

    def _sane_offset(self, reg: Reg, ptype: RegType, known: bool, check_off: bool = False) -> None:
        """check_reg_sane_offset (`ptype`: the pointer's type)."""
        if known:
            val = reg.smin
            if val >= MAX_VAR_OFF or val <= -MAX_VAR_OFF:
                raise Reject(f"math between {ptype.value} pointer and {val} is not allowed")
            return
        if check_off and (reg.off >= MAX_VAR_OFF or reg.off <= -MAX_VAR_OFF):
            raise Reject(f"{ptype.value} pointer offset {reg.off} is not allowed")
        if reg.smin == S64_MIN:
            raise Reject(f"math between {ptype.value} pointer and register with unbounded min value is not allowed")
        if reg.smin >= MAX_VAR_OFF or reg.smin <= -MAX_VAR_OFF:
            raise Reject(f"value {reg.smin} makes {ptype.value} pointer be out of bounds")

    # -- loads and stores ----------------------------------------------------------------------
    def ldx(self, insn: Instruction) -> None:
        code, d, s = insn.code, insn.dst, insn.src  # read once (C integers compiled, checker.pxd)
        base = self.read_reg(s)
        if d == 10:
            raise Reject("frame pointer is read only")
        if base.type is T_STACK and s != 10:
            self.observed.stack_via_pointer_at(insn.pc)
        size = SIZE_OF_CODE[code & 0x18]
        is_ldsx = code & 0xE0 == MODE_MEMSX
        # (positional: a keyword argument would make the compiled call a Python call)
        value = self.mem_access(s, base, insn.off, size, False, None, None, is_ldsx)  # a read
        if is_ldsx:
            value = value.copy()
            sign_extend(value, size * 8, 64)
        self.write_reg(d, value)

    def store(self, insn: Instruction) -> None:
        code, d, s = insn.code, insn.dst, insn.src  # read once (C integers compiled, checker.pxd)
        is_stx = code & 0x07 == STX
        if is_stx:
            value = self.read_reg(s)
        else:
            value = Reg.shared_const(insn.imm)
        base = self.read_reg(d)
        if base.type is T_STACK and d != 10:
            self.observed.stack_via_pointer_at(insn.pc)
            if is_stx and base.frameno != len(self.state.frames) - 1:
                self.observed.caller_store_at(insn.pc)
        # (positional: a keyword argument would make the compiled call a Python call)
        self.mem_access(d, base, insn.off, SIZE_OF_CODE[code & 0x18], True, value, s if is_stx else None)  # a write

    def atomic(self, insn: Instruction) -> None:
        if insn.imm not in (AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR, AtomicOp.FETCH_ADD,
                            AtomicOp.FETCH_OR, AtomicOp.FETCH_AND, AtomicOp.FETCH_XOR, AtomicOp.XCHG, AtomicOp.CMPXCHG):
            raise Reject(f"BPF_ATOMIC uses invalid atomic opcode {insn.imm:02x}")
        src = self.read_reg(insn.src)
        if insn.imm == AtomicOp.CMPXCHG:
            self.read_reg(0)
        base = self.read_reg(insn.dst)
        if base.type is T_STACK and insn.dst != 10:
            self.observed.stack_via_pointer_at(insn.pc)
        if is_pointer_type(src.type) and not self.allow_ptr_leaks:
            raise Reject(f"R{insn.src} leaks addr into mem")
        if base.type in (T_CTX, T_PKT, T_PKT_META):
            raise Reject(f"BPF_ATOMIC stores into R{insn.dst} {base.type.value} is not allowed")
        size = SIZE_OF_CODE[insn.code & 0x18]
        # (positional: a keyword argument would make the compiled call a Python call)
        self.mem_access(insn.dst, base, insn.off, size, False, None, None, False, True)  # a strict read
        self.mem_access(insn.dst, base, insn.off, size, True, Reg.shared_unknown(), None, False, True)  # a strict write
        if insn.imm & AtomicOp.FETCH:
            self.write_reg(0 if insn.imm == AtomicOp.CMPXCHG else insn.src, Reg.shared_unknown(size))

    def mem_access(self, regno, base: Reg, off, size, write, value=None, value_regno=None, is_ldsx=False,
                   strict=False) -> Reg | None:  # types: checker.pxd
        """check_mem_access: a load (returns the loaded register) or a store through `base`;
        `strict`: alignment is checked whatever the pointer (atomics: strict_alignment_once)."""
        t = base.type
        if t is T_STACK:
            return self._stack_access(regno, base, off, size, write, value, value_regno)
        total = off + base.off
        if strict and size > 1 and t in _ALIGN_DESC and not base.var_off.add(Tnum.const(total)).is_aligned(size):
            raise Reject(f"misaligned {_ALIGN_DESC[t]}access off {_tnum_text(base.var_off)}+{base.off}+{off} size {size}")
        if t is T_CTX:
            return self._ctx_access(regno, base, total, size, write, value, is_ldsx)
        if t.is_pkt:
            if write and value is not None and is_pointer_type(value.type) and not self.allow_ptr_leaks:
                raise Reject(f"R{value_regno} leaks addr into packet")
            self.check_packet_access(regno, base, total, size)
        elif t is T_MAP_VALUE:
            if write and value is not None and is_pointer_type(value.type) and not self.allow_ptr_leaks:
                raise Reject(f"R{value_regno} leaks addr into map")
            _check_map_access_type(base.map, total, size, write)
            self.check_region_access(regno, base, total, size, base.map.value_size)
            self._check_special_fields(base, total, size, helper=False)
            if not write:
                return self._map_read(base, total, size)
        elif t in (T_MEM, T_RINGBUF_MEM, T_MAP_KEY, T_RDONLY_MEM):
            if write and t is T_MAP_KEY:
                raise Reject(f"write to change key R{regno} not allowed")
            if write and t is T_RDONLY_MEM:
                raise Reject(f"R{regno} cannot write into {t.value}")
            limit = base.map.key_size if t is T_MAP_KEY else base.mem_size
            self.check_region_access(regno, base, total, size, limit)
        elif t in btf_ptr.ACCESS_TYPES:
            return self.btf_ptrs.access(regno, base, total, size, write)
        elif t is T_MAP_PTR:
            return map_fields.load(self, regno, base, total, size, write)
        elif t in SOCK_TYPES:  # check_sock_access
            if write:
                raise Reject(f"R{regno} cannot write into {t.value}")
            if not (bpf_sock.xdp_sock_readable(total, size) if t is T_XDP_SOCK
                    else bpf_sock.readable(total, size, common=t is T_SOCK_COMMON)):
                raise Reject(f"R{regno} invalid {t.value} access off={total} size={size}")
        else:
            raise Reject(f"R{regno} invalid mem access '{t.value}'")
        if write:
            return None
        return Reg.shared_unknown(size)

    def _map_read(self, base, off, size):  # types: checker.pxd
        """Reads of frozen (.rodata) maps at constant offsets give the constant (bpf_map_direct_read)."""
        mapdef = base.map
        if mapdef.readonly and mapdef.initial is not None and base.is_const:
            start = off + base.const_value
            chunk = mapdef.initial[start : start + size]
            if len(chunk) == size:
                return Reg.shared_const(int.from_bytes(chunk, "little"))
        return Reg.shared_unknown(size)

    def _ctx_access(self, regno: int, base: Reg, off: int, size: int, write: bool, value: Reg | None,
                    is_ldsx: bool = False) -> Reg | None:
        if write and value is not None and is_pointer_type(value.type) and not self.allow_ptr_leaks:
            raise Reject(f"R{regno} leaks addr into ctx")
        if base.off < 0:
            raise Reject(f"negative offset ctx ptr R{regno} off={base.off} disallowed")
        if base.off:
            raise Reject(f"dereference of modified ctx ptr R{regno} off={base.off} disallowed")
        if not base.is_const or base.const_value:
            raise Reject(f"variable ctx access var_off={base.var_off} disallowed")
        field = self.profile.ctx_writable(off, size) if write else ctx_readable(off, size, self.attach)
        if field is not None and is_ldsx and CTX_KIND_TYPES[field.kind] is not None:
            field = None  # xdp_is_valid_access: no sign-extending load of data, data_meta, data_end
        if field is None:
            raise Reject(f"invalid bpf_context access off={off} size={size}")
        if write:
            return None
        kind = CTX_KIND_TYPES[field.kind]
        if kind is None:
            return Reg.shared_unknown(4)
        return Reg.pointer(kind)

    def check_packet_access(self, regno, reg, off, size, zero_ok=False):  # types: checker.pxd
        if reg.smin < 0:
            raise Reject(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.")
        if not (off >= 0 and (size > 0 or (size == 0 and zero_ok)) and off + size <= reg.range):
            raise Reject(
                f"invalid access to packet, off={off} size={size}, R{regno}(id={reg.id},off={off},r={reg.range})\n"
                f"R{regno} offset is outside of the packet"
            )

    def check_region_access(self, regno, reg, off, size, mem_size, zero_ok=False):  # types: checker.pxd
        """check_mem_region_access: both ends of the variable offset must stay inside."""
        if reg.smin < 0 and (reg.smin == S64_MIN or not -(1 << 31) <= off + reg.smin < (1 << 31) or reg.smin + off < 0):
            raise Reject(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.")
        bad = self._mem_error(reg, reg.smin + off, size, mem_size, zero_ok)
        if bad:
            raise Reject(f"{bad}\nR{regno} min value is outside of the allowed memory range")
        if reg.umax >= MAX_VAR_OFF:
            raise Reject(f"R{regno} unbounded memory access, make sure to bounds check any such access")
        bad = self._mem_error(reg, reg.umax + off, size, mem_size, zero_ok)
        if bad:
            raise Reject(f"{bad}\nR{regno} max value is outside of the allowed memory range")

    @staticmethod
    def _mem_error(reg: Reg, off: int, size: int, mem_size: int, zero_ok: bool) -> str | None:
        if off >= 0 and (size > 0 or (size == 0 and zero_ok)) and off + size <= mem_size:
            return None
        if reg.type is T_MAP_VALUE:
            return f"invalid access to map value, value_size={mem_size} off={off} size={size}"
        if reg.type is T_MAP_KEY:
            return f"invalid access to map key, key_size={mem_size} off={off} size={size}"
        return f"invalid access to memory, mem_size={mem_size} off={off} size={size}"

    # -- the stack ------------------------------------------------------------------------------
    def _stack_bounds(self, regno, reg, off, size, what):  # types: checker.pxd
        """check_stack_access_within_bounds; returns the lowest and highest byte offsets touched."""
        off += reg.off
        if reg.is_const:
            lo = reg.const_value - (1 << 64) if reg.const_value >> 63 else reg.const_value
            lo += off
            hi = lo + size
        else:
            if reg.smax >= MAX_VAR_OFF or reg.smin <= -MAX_VAR_OFF:
                raise Reject(f"invalid unbounded variable-offset{what} stack R{regno}")
            lo, hi = reg.smin + off, reg.smax + off + size
        min_valid = -MAX_BPF_STACK
        if lo < min_valid or lo > -1 or hi > 0 or size < 0:
            if reg.is_const:
                raise Reject(f"invalid{what} stack R{regno} off={off} size={size}")
            raise Reject(f"invalid variable-offset{what} stack R{regno} var_off={reg.var_off} off={off} size={size}")
        subprog = self.state.frames[reg.frameno].subprog
        self.stack_depth[subprog] = max(self.stack_depth.get(subprog, 0), -lo)
        return lo, hi

    def _check_alignment(self, reg, off, size):  # types: checker.pxd
        """check_ptr_alignment with strict alignment (the stack is always strict)."""
        if reg.type is T_STACK:
            if reg.var_off.mask:
                aligned = reg.var_off.add(Tnum.const(reg.off + off)).is_aligned(size)
            else:  # a constant offset (r10 and its copies): Tnum.add and is_aligned on constants
                aligned = not size or not (reg.var_off.value + reg.off + off) & (size - 1)
            if not aligned:
                var = str(reg.var_off.value) if reg.is_const else str(reg.var_off)
                raise Reject(f"misaligned stack access off {var}+{reg.off}+{off} size {size}")
        elif size > 1 and reg.type in _ALIGN_DESC and not reg.var_off.add(Tnum.const(off + reg.off)).is_aligned(size):
            raise Reject(f"misaligned {_ALIGN_DESC[reg.type]}access off {_tnum_text(reg.var_off)}+{reg.off}+{off} size {size}")

    def _stack_access(self, regno, reg, off, size, write, value, value_regno):  # types: checker.pxd
        self._check_alignment(reg, off, size)
        frame = self.state.frames[reg.frameno]
        lo, hi = self._stack_bounds(regno, reg, off, size, " write to" if write else " read from")
        if self.fastcall is not None:
            self.fastcall.check_access(frame.subprog, lo, self.pc)
        self._note(backtrack.STACK, reg.frameno, precision.slot_mask(lo, hi))
        if not reg.is_const:  # variable offset: every byte it may touch
            if write:
                for byte in range(lo, hi):
                    self._scrub_byte(frame, byte)
                return None
            self._read_slots(frame, lo, hi)
            for byte in range(lo, hi):
                if (frame.byte_kind(byte) == "?" and not self.allow_uninit) or \
                        frame.byte_kind(byte) in _OBJECT_KINDS:
                    raise Reject(f"invalid variable-offset read from stack R{regno} var_off={reg.var_off}+{off} size={size}")
            return Reg.shared_unknown(size)
        if write:
            self._stack_write(frame, lo, size, value, value_regno)
            return None
        return self._stack_read(frame, lo, size, regno)

    def _read_slots(self, frame, lo, hi):  # types: checker.pxd
        """The current instruction reads stack bytes [lo, hi) of `frame` (precision.py:
        stack liveness; a callee reading its caller's slots is the caller's call reading)."""
        if frame is self.state.frames[-1]:
            self.observed.stack_read_at(self.pc, precision.slot_mask(lo, hi))

    def _scrub_byte(self, frame, byte):  # types: checker.pxd
        spi, j = divmod(-byte - 1, SLOT)
        existing = frame.stack.get(spi)
        if existing is not None and existing.kinds[0] == dynptr.KIND:
            dynptr.destroy_slot(self, frame, spi)
        slot = frame.slot(spi)
        self.scratched_slots.add(spi)
        if slot.is_spill:
            slot.kinds = ["m" if k == "r" else k for k in slot.kinds]
            slot.spilled = None
        slot.kinds[j] = "m"

    def _stack_write(self, frame, lo, size, value, value_regno=None):  # types: checker.pxd
        """check_stack_write_fixed_off: spills keep the register, other bytes become misc/zero.

        A scalar spill whose value fits the store links the slot and the source
        register by an id (a later branch on a fill also teaches the source); a
        narrowing spill breaks the link."""
        spi, j = divmod(-lo - 1, SLOT)
        slot_start = lo % SLOT == 0
        existing = frame.stack.get(spi)
        if existing is not None and existing.kinds[0] == dynptr.KIND:
            dynptr.destroy_slot(self, frame, spi)
        elif existing is not None and existing.kinds[SLOT - 1] == iterators.KIND:
            iterators.scrub(self, frame, spi)
        if is_pointer_type(value.type) and size != SLOT:
            raise Reject("invalid size of register spill")
        if not (slot_start and size == SLOT) and not self.allow_ptr_leaks:
            self._read_slots(frame, lo, lo + size)  # what was there decides (a spilled pointer is refused)
        slot = frame.slot(spi)
        self.scratched_slots.add(spi)
        if slot.kinds[SLOT - 1] == "r" and not (slot_start and size == SLOT):  # slot.is_spill
            if slot.spilled is not None and is_pointer_type(slot.spilled.type) and not self.allow_ptr_leaks:
                raise Reject("attempt to corrupt spilled pointer on stack")
            slot.kinds = ["m" if k == "r" else k for k in slot.kinds]
            slot.spilled = None
        if slot_start and (is_pointer_type(value.type) or (value.type is T_SCALAR and (size == SLOT or self.privileged))):
            spilled = value
            if value.type is T_SCALAR and self.privileged:
                if value.umax.bit_length() <= size * 8:  # reg_value_fits: assign_scalar_id_before_mov
                    if value_regno is not None:
                        spilled = self._before_mov(value_regno, value)
                elif value.id:
                    spilled = value.copy()
                    spilled.id = 0
            if size < SLOT and spilled.umax.bit_length() > size * 8:
                spilled = spilled.copy()
                truncate(spilled, size)
            slot.spilled = spilled
            for k in range(SLOT):
                if k >= SLOT - size:
                    slot.kinds[k] = "r"
                elif slot.kinds[k] == "r":
                    slot.kinds[k] = "m"
            return
        kind = "0" if value.type is T_SCALAR and not value.var_off.mask and value.var_off.value == 0 else "m"
        for byte in range(lo, lo + size):
            s, k = divmod(-byte - 1, SLOT)
            target = frame.slot(s)
            self.scratched_slots.add(s)
            if target.kinds[SLOT - 1] == "r":  # target.is_spill
                target.kinds = ["m" if x == "r" else x for x in target.kinds]
                target.spilled = None
            target.kinds[k] = kind

    def _stack_read(self, frame, lo, size, regno):  # types: checker.pxd
        self._read_slots(frame, lo, lo + size)
        spi, _ = divmod(-lo - 1, SLOT)
        slot = frame.stack.get(spi)
        if slot is not None and slot.is_spill and slot.spilled is not None:
            # check_stack_read_fixed_off on a spilled register
            kinds = "".join(slot.kinds)
            spill_size = len(kinds) - len(kinds.rstrip("r"))  # spilled bytes up from the slot start
            spilled = slot.spilled
            self.scratched_slots.add(spi)
            if size == SLOT and spill_size == SLOT:
                return spilled
            if spilled.type is not T_SCALAR:
                raise Reject("invalid size of register fill")
            if size <= spill_size and lo % SLOT == 0:  # a narrow fill of the spilled value
                if spilled.umax.bit_length() <= size * 8:
                    return spilled
                loaded = spilled.copy()
                loaded.id = loaded.off = 0
                truncate(loaded, size)
                return loaded
            spilled_bytes = 0
            for byte in range(lo, lo + size):
                kind = frame.byte_kind(byte)
                if kind == "?" and not self.allow_uninit:
                    raise Reject(f"invalid read from stack off {lo}+{byte - lo} size {size}")
                spilled_bytes += kind == "r"
            if spilled_bytes == size and spilled.is_const and spilled.const_value == 0:
                return Reg.shared_const(0)
        kinds = [frame.byte_kind(b) for b in range(lo, lo + size)]
        for index, kind in enumerate(kinds):
            if kind == "r":
                s, _ = divmod(-(lo + index) - 1, SLOT)
                spilled = frame.stack[s].spilled
                if spilled is not None and is_pointer_type(spilled.type):
                    raise Reject("invalid size of register fill")
            if (kind == "?" and not self.allow_uninit) or kind in _OBJECT_KINDS:
                raise Reject(f"invalid read from stack off {lo}+{index} size {size}")
        if kinds.count("0") == len(kinds):  # all zero (no generator: this is a C function compiled)
            return Reg.shared_const(0)
        return Reg.shared_unknown(size)

    def helper_stack_access(self, regno: int, reg: Reg, size: int, write: bool, zero_ok: bool) -> None:
        """check_stack_range_initialized for memory a helper reads or writes."""
        if size == 0 and not zero_ok:
            raise Reject("invalid zero-sized read")
        frame = self.state.frames[reg.frameno]
        lo, hi = self._stack_bounds(regno, reg, 0, size, " write to" if write else " read from")
        if not reg.is_const:
            hi = reg.smax + reg.off + size
        if not write:
            self._read_slots(frame, lo, hi)
        elif reg.is_const:
            dynptr.check_helper_write(frame, lo, hi)
        for byte in range(lo, hi):
            kind = frame.byte_kind(byte)
            if write:
                self._scrub_byte(frame, byte)
                continue
            if kind in ("m", "0") or (kind == "?" and self.allow_uninit):
                continue
            if kind == "r":
                spi = (-byte - 1) // SLOT
                spilled = frame.stack[spi].spilled
                if spilled is None or spilled.type is T_SCALAR or self.allow_ptr_leaks:
                    continue
            if reg.is_const:
                raise Reject(f"invalid read from stack R{regno} off {lo}+{byte - lo} size {size}")
            raise Reject(f"invalid read from stack R{regno} var_off {reg.var_off}+{byte - lo} size {size}")

    # -- ld_imm64 and legacy packet loads --------------------------------------------------------
    def ld(self, insn: Instruction) -> None:
        if not insn.is_ld_imm64:
            raise Reject("BPF_LD_[ABS|IND] instructions not allowed for this program type")
        src, reloc = insn.src, insn.reloc
        if reloc is not None and reloc.kind == _RELOC_MAP:
            src = _PSEUDO_MAP_FD
        elif reloc is not None and reloc.kind == _RELOC_MAP_VALUE:
            src = _PSEUDO_MAP_VALUE
        if src == _PSEUDO_FUNC:
            callbacks.check_func_load(self, insn.pc + 1 + insn.imm)
            self.write_reg(insn.dst, Reg.pointer(T_FUNC, off=insn.pc + 1 + insn.imm))
            return
        if reloc is not None and reloc.kind in (_RELOC_KFUNC, _RELOC_EXTERN):
            raise XdpError(f"verifier: ld_imm64 of {reloc.kind.value} symbol {reloc.symbol} is not implemented")
        if src == _PSEUDO_IMM:
            self.write_reg(insn.dst, Reg.shared_const(insn.imm64))
            return
        if src in (_PSEUDO_MAP_FD, _PSEUDO_MAP_IDX):
            self.write_reg(insn.dst, Reg.pointer(T_MAP_PTR, map=self._map_of(insn)))
            return
        if src in (_PSEUDO_MAP_VALUE, _PSEUDO_MAP_IDX_VALUE):
            mapdef = self._map_of(insn)
            if mapdef.type == MapType.ARENA:  # an address in the arena: a scalar (check_ld_imm)
                self.write_reg(insn.dst, Reg.shared_unknown())
                return
            offset = reloc.offset if reloc is not None else insn.imm_hi
            if not 0 <= offset < max(mapdef.value_size, 1):
                raise Reject(f"invalid access to map value pointer, value_size={mapdef.value_size} off={offset}")
            self.write_reg(insn.dst, Reg.pointer(T_MAP_VALUE, map=mapdef, off=offset))
            return
        raise XdpError(f"verifier: ld_imm64 with src {src} (BTF ids, subprogram addresses for callbacks) is not implemented")

    def _map_of(self, insn: Instruction):
        reloc = insn.reloc
        name = reloc.map if reloc is not None else None
        if name is None or name not in self.maps:
            raise Reject(f"fd {insn.imm} is not pointing to valid bpf_map")
        return self.maps[name]

    # -- jumps, calls, exit -----------------------------------------------------------------------
    def jmp(self, insn: Instruction) -> int:
        """The next pc, or END at the program's final exit."""
        op = insn.code & 0xF0
        self.jmps += 1  # every jump-class instruction counts, as the kernel's jmps_processed
        if op == OP_JA:
            return self.cfg.targets[insn.pc]
        if op == OP_EXIT:
            return self._exit(insn)
        if op == OP_JCOND:
            return self._may_goto(insn)
        if op == OP_CALL:
            if self.state.lock is not None and (insn.src == 2 or (insn.src == 0 and insn.imm != _SPIN_UNLOCK)):
                raise Reject("function calls are not allowed while holding a lock")  # do_check
            if insn.src == 1:
                return self._local_call(insn)
            if insn.src == 2:  # a kfunc
                return self._kfunc_call(insn)
            return self.helper_call(insn) or insn.pc + 1
        return self._cond_jmp(insn)

    def _exit(self, insn):  # types: checker.pxd
        state = self.state
        if len(state.frames) > 1:  # prepare_func_exit: whatever R0 holds goes back, read or not
            callback = state.cur.callback
            if callback:
                self._value_decided(1 << 0)  # checked to be 0 or 1
            self._note(backtrack.EXIT_CALLBACK if callback else backtrack.EXIT_LOCAL)
            r0 = state.regs[0]
            self.scratched.add(0)
            callee = state.frames.pop()
            if r0.type is T_STACK and r0.frameno == callee.frameno:
                raise Reject("cannot return stack pointer to the caller frame")
            if callee.callback:
                callbacks.check_return(r0, is_async=False)
                # back to the call, which runs the callback again or returns; imprecise scalars
                # that changed since the call's previous visit are widened (prepare_func_exit)
                entry = self._prev_entry(callee.callsite, len(state.frames))
                if entry is not None and self.track is not None and not entry.loose:
                    # precise: what this path's decisions marked so far at that call, as the
                    # kernel's flags (callbacks.py; precision.py counts every slot at the call)
                    self._widen(entry.state, state, callee.callsite, entry=entry)
                elif entry is not None:
                    self._widen(entry.state, state, callee.callsite,
                                callbacks.caller_precise_slots(self, callee.callsite, callee.subprog))
                return callee.callsite
            caller = state.cur
            caller.regs[0] = r0
            return callee.callsite + 1
        if state.lock is not None:  # check_resource_leak: the lock first, then references
            raise Reject("BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region")
        self._check_reference_leak("BPF_EXIT instruction in main prog")
        r0 = self.read_reg(0)  # check_return_code
        if is_pointer_type(r0.type) and not self.allow_ptr_leaks:
            raise Reject("R0 leaks addr as return value")
        if state.frames[0].callback:  # a timer callback's own walk
            callbacks.check_return(r0, is_async=True)
        elif state.frames[0].subprog and r0.type is not T_SCALAR:  # a global function's own walk
            raise Reject(f"At subprogram exit the register R0 is not a scalar value ({r0.type.value})")
        return END

    def _may_goto(self, insn):  # types: checker.pxd
        """may_goto (check_cond_jmp_op, BPF_JCOND): the walk goes on at the jump target (the
        loop gives up) and queues the fall-through (one more iteration) with may_goto_depth
        + 1, its imprecise scalars widened against the previous iteration's checkpoint here
        (widen_imprecise_scalars), so that the iterations converge."""
        if insn.src or insn.dst or insn.imm:
            raise Reject(f"invalid may_goto imm {insn.imm}")
        pc = insn.pc
        queued = self.state.copy()
        queued.may_goto_depth += 1
        entry = self._prev_entry(pc, len(queued.frames), skip_head=True)
        if entry is not None:
            self._widen(entry.state, queued, pc + 1, entry=entry)
        self.push(queued, pc + 1, pc)
        return self.cfg.targets[pc]

    def _widen(self, old: State, cur: State, pc: int, precise_slots: int | None = None,
               entry: Entry | None = None) -> None:
        """maybe_widen_reg over the current frame: a scalar that is not precise at `pc` and
        differs from the previous iteration's becomes unknown (callers' frames are left
        as they are: no precision is known for them).  `precise_slots` overrides the
        slots precise at pc (widening only ever loses values: any choice is sound).
        With the previous iteration's checkpoint `entry`, precise means marked there so
        far (backtrack.py), as the kernel's precise flags: a sum a subprogram returns
        is not precise until a caller's decision makes it so."""
        precise_regs, slots_at_pc, live_slots = self._precise_at(pc)
        if entry is not None and self.track is not None:
            precise_regs, slots_at_pc, _ = precise_of(entry.loose, entry.marks, (precise_regs, slots_at_pc, live_slots))
        if precise_slots is None:
            precise_slots = slots_at_pc
        oframe, frame = old.frames[-1], cur.frames[-1]
        for i in range(10):
            o, c = oframe.regs[i], frame.regs[i]
            if (o.type is T_SCALAR and c.type is T_SCALAR and not precise_regs >> i & 1
                    and o is not c and o.key() != c.key()):
                frame.regs[i] = Reg.shared_unknown()
        for spi, slot in list(frame.stack.items()):
            oslot = oframe.stack.get(spi)
            if oslot is None or not (slot.is_spill and oslot.is_spill) or precise_slots >> spi & 1:
                continue
            o, c = oslot.spilled, slot.spilled
            if (o is not None and c is not None and o.type is T_SCALAR and c.type is T_SCALAR
                    and o is not c and o.key() != c.key()):
                frame.slot(spi).spilled = Reg.shared_unknown()

    def _global_call(self, insn: Instruction, func: GlobalFunc) -> int:
        """check_func_call of a global function: the caller's registers must fit its prototype
        (btf_check_func_arg_match); it is checked on its own later, and returns a scalar."""
        if self.state.lock is not None:
            raise Reject("global function calls are not allowed while holding a lock,\nuse static function instead")
        self._value_decided(_ARG_REGS)  # a scalar 0 passes for a NULL pointer
        try:
            if func.args is None:
                raise Reject(func.error)
            for regno, arg in enumerate(func.args, 1):
                self._check_global_arg(func, regno, arg)
        except Reject as reject:
            raise Reject(f"{reject.message}\nCaller passes invalid args into func#{func.index} ('{func.name}')")
        if self.log_level:
            self.lines.append(f"Func#{func.index} ('{func.name}') is global and assumed valid.")
        self.called_globals.add(func.start)
        regs = self.state.regs
        for r in range(0, 6):
            regs[r] = NOT_INIT
            self.scratched.add(r)
        regs[0] = Reg.shared_unknown()
        return insn.pc + 1

    def _check_global_arg(self, func: GlobalFunc, regno: int, arg: GlobalArg) -> None:
        reg = self.state.regs[regno]  # not read_reg: the kernel does not ask for an initialised register
        self.scratched.add(regno)
        if arg.kind is ArgKind.TRUSTED:
            kt = self.btf_ptrs.global_arg_type(func.name, regno - 1, arg.struct)
            self.btf_ptrs.check_global_arg(regno, reg, kt, arg.nullable)
            return
        if arg.kind is ArgKind.SCALAR:
            if reg.type is not T_SCALAR:
                raise Reject(f"R{regno} is not a scalar")
            return
        self._check_arg_reg_off(regno, reg)
        if arg.kind is ArgKind.DYNPTR:  # btf_check_func_arg_match: ARG_PTR_TO_DYNPTR | MEM_RDONLY
            dynptr.process(self, regno, reg, dynptr.DynptrArg(rdonly=True))
            return
        if arg.kind is ArgKind.CTX:
            if reg.type is not T_CTX:
                raise Reject(f"arg#{regno - 1} expects pointer to ctx")
            return
        # check_mem_reg: NULL passes; else the memory must be readable and writable
        if reg.is_scalar and reg.is_const and reg.const_value == 0:
            return
        mem = _not_null(reg) if reg.type.maybe_null else reg
        if mem.type not in MEM_REG_TYPES:
            raise Reject(f"R{regno} type={mem.type.value} expected=fp")
        self.helper_mem_access(regno, mem, arg.size, write=False, zero_ok=True)
        if mem.type is T_MAP_KEY:
            raise Reject(f"R{regno} cannot write into map_key")
        if mem.type is T_MAP_VALUE:
            _check_map_access_type(mem.map, mem.off, arg.size, True)
        if reg.type.maybe_null and not arg.nullable:
            raise Reject(f"arg#{regno - 1} is expected to be non-NULL")

    def _check_arg_reg_off(self, regno: int, reg: Reg, release: bool = False) -> None:
        """check_func_arg_reg_off: a pointer passed on must be unmodified, except those whose
        offsets the callee checks; one passed to a release function unmodified in any case."""
        t = reg.type
        if release:
            if reg.off:
                raise Reject(f"R{regno} must have zero offset when passed to release func or trusted arg to kfunc")
        elif t in _OFF_OK_TYPES:
            return
        if reg.off < 0:
            raise Reject(f"negative offset {t.value} ptr R{regno} off={reg.off} disallowed")
        if reg.off and (release or t not in btf_ptr.FIXED_OFF_OK):
            raise Reject(f"dereference of modified {t.value} ptr R{regno} off={reg.off} disallowed")
        var_off = TNUM_UNKNOWN if t is T_NOT_INIT else reg.var_off  # an uninitialised register is unknown
        if var_off.mask or var_off.value:
            raise Reject(f"variable {t.value} access var_off={_tnum_text(var_off)} disallowed")

    def _local_call(self, insn):  # types: checker.pxd
        func = self.global_funcs.get(insn.target)
        if func is not None:
            return self._global_call(insn, func)
        state = self.state
        if len(state.frames) >= MAX_CALL_FRAMES:
            raise Reject(f"the call stack of {len(state.frames) + 1} frames is too deep")
        caller = state.cur
        callee = Frame(len(state.frames), insn.pc, self.cfg.subprog_of(insn.target))
        for r in range(1, 6):
            callee.regs[r] = caller.regs[r]
        for r in range(0, 6):
            caller.regs[r] = NOT_INIT
        state.frames.append(callee)
        self.stack_depth.setdefault(callee.subprog, 0)
        self._note(backtrack.CALL_LOCAL)
        return insn.target

    def _cond_jmp(self, insn: Instruction) -> int:
        return self.cond_jmp_decoded(insn, *decode_cond_jmp(insn))

    def cond_jmp_decoded(self, insn: Instruction, op, bits, d, s, imm, fall, target):  # types: checker.pxd
        """A conditional jump with its fields decoded once (decode_cond_jmp): s is None
        when the source is the immediate, given as the register `imm` (else None); returns the next pc."""
        src = self.read_reg(s) if s is not None else imm
        dst = self.read_reg(d)
        if is_pointer_type(dst.type) or is_pointer_type(src.type):  # what happens depends on the scalar operand's value
            self.observed.value_branch_at(insn.pc)
            self._value_decided(1 << d | (1 << s if s is not None else 0))
        # (the cheap tests first: the same answer, fewer attribute reads per jump)
        if (op in (OP_JEQ, OP_JNE) and bits == 64 and src.type is T_SCALAR and not src.var_off.mask
                and src.var_off.value == 0 and dst.type.maybe_null):
            other = self.state.copy()
            null_state, ok_state = (other, self.state) if op == OP_JEQ else (self.state, other)
            keep_id = self._may_point_to_spin_lock(dst)
            _mark_ptr_or_null(null_state, dst.id, is_null=True)
            _mark_ptr_or_null(ok_state, dst.id, is_null=False, keep_id=keep_id)
            self.push(other, target, fall - 1)
            return fall
        if is_pointer_type(dst.type) or is_pointer_type(src.type):
            return self._pointer_cond(insn, dst, src, bits, fall, target)
        decided = branch_taken(dst, src, op, bits)
        if decided is not None:
            self.observed.value_branch_at(insn.pc)
            self._value_decided(1 << d | (1 << s if s is not None else 0))
            return target if decided else fall
        links = self._collect_links(insn.pc, dst, src if s is not None else None)
        fall_frame: Frame = self.state.frames[-1]  # (typed: slot reads, not the State.regs property)
        fall_regs: list = fall_frame.regs
        if links:  # (collecting may have cleared links past six, the operands' too)
            dst, src = fall_regs[d], (fall_regs[s] if s is not None else src)
        other = self.state.copy()
        taken_frame: Frame = other.frames[-1]
        taken_regs: list = taken_frame.regs
        t_dst = taken_regs[d] = dst.copy()
        f_dst = fall_regs[d] = dst.copy()
        if s is None:
            t_src, f_src = src.copy(), src.copy()
        elif s == d:
            t_src, f_src = t_dst, f_dst
        else:
            t_src = taken_regs[s] = src.copy()
            f_src = fall_regs[s] = src.copy()
        taken_ok = refine(t_dst, t_src, op, bits)
        fall_ok = refine(f_dst, f_src, _NEGATE[op], bits)
        if links:
            # the copies learn the bounds (src first, as the kernel's); that marks nothing precise
            # here: a walk backwards that reaches this jump does (backtrack.py LINKED); the static
            # answer still counts the operands (it cannot tell which scalars are linked)
            self.observed.value_branch_at(insn.pc)
            frameno = len(self.state.frames) - 1
            for regno in (s, d) if s is not None and src.type is T_SCALAR and src.id else (d,):
                if self.state.regs[regno].type is T_SCALAR and self.state.regs[regno].id:
                    for state, feasible in ((self.state, fall_ok), (other, taken_ok)):
                        if feasible:
                            linked.sync(state, frameno, regno, links)
        if not (taken_ok and fall_ok):  # one side ruled out by values
            self.observed.value_branch_at(insn.pc)
            self._value_decided(1 << d | (1 << s if s is not None else 0))
        if taken_ok and fall_ok:
            self.push(other, target, fall - 1)
            return fall
        if taken_ok:
            self.state = other
            return target
        if fall_ok:
            return fall
        return fall  # both impossible: cannot happen with sound bounds; keep walking

    def _collect_links(self, pc, dst, src):  # types: checker.pxd
        """The scalars linked with a conditional jump's operands (linked.collect, src first), when
        more than one: noted in the path's history for the walk backwards (push_jmp_history)."""
        src_id = src.id if src is not None and src.type is T_SCALAR else 0
        dst_id = dst.id if dst.type is T_SCALAR else 0
        if not (src_id or dst_id):
            return None
        links: list = []
        if src_id:
            linked.collect(self.state, src_id, self.live_in, pc, links)
        if dst_id:
            linked.collect(self.state, dst_id, self.live_in, pc, links)
        if len(links) < 2:  # the operand alone: nothing to teach (its id may still have been cleared)
            return None
        self._note(backtrack.LINKED, 0, tuple(links))
        return links

    def _pointer_cond(self, insn, dst, src, bits, fall, target):  # types: checker.pxd
        op, uses_reg = insn.code & 0xF0, insn.code & X
        if bits == 64 and op in (OP_JGT, OP_JGE, OP_JLT, OP_JLE) and uses_reg:
            pkt_cmp = _pkt_compare(dst, src, op)
            if pkt_cmp is not None:
                other = self.state.copy()
                reg_is_dst, when_taken, open_right = pkt_cmp
                good = dst if reg_is_dst else src
                good_state = other if when_taken else self.state
                _find_good_pkt_pointers(good_state, good, open_right)
                self.push(other, target, insn.pc)
                return fall
        if op in (OP_JEQ, OP_JNE) and src.is_scalar and src.is_const and src.const_value == 0 and (
                dst.type in _NON_NULL or (dst.type in BTF_ID_TYPES and btf_ptr.not_null(dst))):
            return target if op == OP_JNE else fall
        if not self.allow_ptr_leaks:
            regno = insn.dst if is_pointer_type(dst.type) else insn.src
            raise Reject(f"R{regno} pointer comparison prohibited")
        other = self.state.copy()
        if (bits == 64 and uses_reg and op in (OP_JEQ, OP_JNE) and is_pointer_type(dst.type)
                and is_pointer_type(src.type) and dst.type.maybe_null != src.type.maybe_null):
            # equal to a pointer that is not NULL: not NULL either (the kernel's jeq/jne inference)
            equal_state = other if op == OP_JEQ else self.state
            regno = insn.src if src.type.maybe_null else insn.dst
            equal_state.regs[regno] = _not_null(equal_state.regs[regno])
        self.push(other, target, insn.pc)
        return fall

    # -- helper calls ---------------------------------------------------------------------------
    def helper_call(self, insn):  # types: checker.pxd
        func_id = insn.imm
        if not 0 <= func_id < 212:
            raise Reject(f"invalid func {helper_name(func_id)}#{func_id}")
        helper: Helper | None = self.profile.helpers.get(func_id)
        if helper is None:
            raise Reject(self.profile.refuse_helper(func_id))
        if helper.unsupported:
            raise XdpError(f"verifier: calls to {helper.full_name}#{func_id} are not implemented ({helper.unsupported})")
        if helper.gpl_only and not _gpl_compatible(self.program.license):
            raise Reject("cannot call GPL-restricted function from non-GPL compatible program")
        meta = {"map": None, "mem": None, "ref": 0, "alloc": 0, "const_key": None, "ref_obj_id": 0}
        for index, arg in enumerate(helper.args):
            self._check_arg(helper, index + 1, arg, meta)
        if "dynptr" in meta:
            dynptr.after_helper_args(self, helper, meta)
        mapdef = meta["map"]
        if mapdef is not None and helper.writes_map and not map_prog_can_write(mapdef):
            raise Reject("write into map forbidden")  # record_func_map
        if helper.releases:
            self._release_reference(meta["ref"], f"func {helper.full_name}#{func_id}")
        elif helper.name == "tail_call":
            self._check_reference_leak("tail_call")
        if mapdef is not None and not map_func_compatible(mapdef.type, func_id):
            raise Reject(f"cannot pass map_type {int(mapdef.type)} into func {helper.full_name}#{func_id}")
        self._value_decided(_first_args(len(helper.args)))  # sizes, flags, bpf_loop's count...
        if helper.name == "loop":
            return self._loop_call(insn)
        if helper.callback is not None:
            queued = len(self.pending)
            callbacks.push_callback(self, insn, helper, meta)
            if self.track is not None and not helper.callback.is_async and len(self.pending) > queued:
                self.pending[-1][4][-1] = (insn.pc, backtrack.CALL_CALLBACK, 0, 0)  # that path went into it
        if helper.changes_pkt_data:
            _forget_pkt_data(self.state, Reg.shared_unknown() if self.allow_ptr_leaks else NOT_INIT)
        regs = self.state.regs
        for r in range(1, 6):
            regs[r] = NOT_INIT
            self.scratched.add(r)
        self.scratched.add(0)
        if helper.ret is _RET_MAP_VALUE_OR_NULL:
            const_key = meta["const_key"]
            if helper.name == "map_lookup_elem" and mapdef.type in _SOCK_MAPS:  # is_acquire_function
                self.new_id()
                ref = self._acquire_reference(insn.pc)
                regs[0] = Reg.pointer(T_MAP_VALUE_OR_NULL, map=mapdef, id=ref, ref_obj_id=ref)
            elif helper.name == "map_lookup_elem" and const_key is not None and 0 <= const_key < mapdef.max_entries:
                # an array element that exists (Linux 6.14+: no NULL check needed); one that may
                # hold a spin lock gets an id of its own
                lock_id = self.new_id() if spin_lock_of(self._record(mapdef)) is not None else 0
                regs[0] = Reg.pointer(T_MAP_VALUE, map=mapdef, id=lock_id)
            else:
                regs[0] = Reg.pointer(T_MAP_VALUE_OR_NULL, map=mapdef, id=self.new_id())
        elif helper.acquires:
            self.new_id()  # the id of the _or_null pointer, which the reference's id then replaces
            ref = self._acquire_reference(insn.pc)
            regs[0] = Reg.pointer(RET_TYPES[helper.ret], id=ref, ref_obj_id=ref, mem_size=meta["alloc"])
        elif helper.ret_struct:
            regs[0] = self.btf_ptrs.helper_return(helper, meta)
        elif helper.ret is _RET_DYNPTR_MEM_OR_NULL:
            regs[0] = dynptr.data_return(self, meta)
        elif helper.ret is _RET_VOID:
            regs[0] = NOT_INIT
        else:
            regs[0] = Reg.shared_unknown()

    # -- spin locks (process_spin_lock; the held lock is State.lock: (map name, pointer id)) -----
    def _record(self, mapdef):  # types: checker.pxd
        return record_of(mapdef, self.btf)

    def _may_point_to_spin_lock(self, reg):  # types: checker.pxd
        """reg_may_point_to_spin_lock: a map value of a map whose value holds one."""
        return reg.map is not None and reg.type in (T_MAP_VALUE, T_MAP_VALUE_OR_NULL) and \
            spin_lock_of(self._record(reg.map)) is not None

    def _spin_lock(self, regno: int, reg: Reg, lock: bool) -> None:
        if not reg.is_const:
            raise Reject(f"R{regno} doesn't have constant offset. bpf_spin_lock has to be at the constant offset")
        mapdef = reg.map
        record = self._record(mapdef)
        if record is None:
            raise Reject(f"map '{mapdef.name}' has to have BTF in order to use bpf_spin_lock")
        field = spin_lock_of(record)
        if field is None:
            raise Reject(f"map '{mapdef.name}' has no valid bpf_spin_lock")
        off = reg.const_value + reg.off
        if field.offset != off:
            raise Reject(f"off {off} doesn't point to 'struct bpf_spin_lock' that is at {field.offset}")
        state = self.state
        if lock:
            if state.lock is not None:
                raise Reject("Locking two bpf_spin_locks are not allowed")
            state.lock = (mapdef.name, reg.id)
        else:
            if state.lock is None:
                raise Reject("bpf_spin_unlock without taking a lock")
            if state.lock != (mapdef.name, reg.id):
                raise Reject("bpf_spin_unlock of different lock")
            state.lock = None

    def _check_special_fields(self, reg: Reg, off: int, size: int, helper: bool) -> None:
        """check_map_access: no access may touch a special field of the value (kptrs have
        rules of their own, which xdptool does not model)."""
        record = self._record(reg.map)
        if not record:
            return
        lo, hi = reg.smin + off, reg.umax + off + size
        for field in record:
            if lo < field.offset + field.size and field.offset < hi:
                if field.is_kptr:
                    if helper:
                        raise Reject(f"{field.name} cannot be accessed indirectly by helper")
                    raise XdpError(f"verifier: accesses to {field.name} fields of map values are not implemented")
                raise Reject(f"{field.name} cannot be accessed directly by load/store")

    def _const_map_key(self, reg: Reg, key_size: int) -> int | None:
        """get_constant_map_key (Linux 6.18): the key a stack pointer points at, when the stack
        says it: key_size zero bytes (STACK_ZERO), or a constant scalar spilled with exactly
        key_size bytes (then its slot is precise: pruning must not let another key in)."""
        if not self.privileged or reg.type is not T_STACK or not reg.is_const:
            return None
        value = reg.const_value
        slot = -(reg.off + (value - (1 << 64) if value >> 63 else value)) - 1
        spi, off = divmod(slot, SLOT)
        stack_slot = self.state.frames[reg.frameno].stack.get(spi)
        if stack_slot is None:
            return None
        kinds = stack_slot.kinds
        zeros = 0
        while off - zeros >= 0 and kinds[off - zeros] == "0":
            zeros += 1
        if zeros >= key_size:
            return 0
        spilled = stack_slot.spilled
        if not stack_slot.is_spill or spilled is None or spilled.type is not T_SCALAR:
            return None
        spill = 0
        while off - spill >= 0 and kinds[off - spill] == "r":
            spill += 1
        if spill != key_size or not spilled.is_const:
            return None
        if reg.frameno == len(self.state.frames) - 1:
            self.observed.call_slots_at(self.pc, 1 << spi)
        if self.track is not None:
            self.track.mark_slots(reg.frameno, 1 << spi)
        key = spilled.const_value
        return key - (1 << 64) if key >> 63 else key

    # -- references (acquire_reference_state, release_reference, check_reference_leak) -----------
    def _acquire_reference(self, pc: int) -> int:
        ref = self.new_id()
        self.state.refs = self.state.refs + ((ref, pc),)
        return ref

    def _release_reference(self, ref: int, caller: str) -> None:
        """The reference is gone: every pointer derived from it becomes unusable (an unknown
        scalar when pointers may leak, as mark_reg_invalid does, else uninitialised)."""
        state = self.state
        kept = tuple(r for r in state.refs if r[0] != ref)
        if len(kept) == len(state.refs):
            raise Reject(f"{caller} reference has not been acquired before")
        state.refs = kept
        invalid = Reg.shared_unknown() if self.allow_ptr_leaks else NOT_INIT
        state.replace_regs(lambda reg: invalid if reg.ref_obj_id == ref else None)

    def _check_reference_leak(self, what):  # types: checker.pxd
        refs = self.state.refs
        if refs:
            lines = [f"Unreleased reference id={ref} alloc_insn={pc}" for ref, pc in refs]
            raise Reject("\n".join(lines + [f"{what} would lead to reference leak"]))

    def _kfunc_call(self, insn):  # types: checker.pxd
        """check_kfunc_call: a kfunc XDP may not call is refused in the kernel's words; the
        others are named with the machinery xdptool's walk would need to check them."""
        name = insn.reloc.symbol if insn.reloc is not None else None
        if name is None:
            raise XdpError(f"verifier: the kfunc call at insn {insn.pc} has no symbol name (BTF id {insn.imm})")
        kfunc = XDP_KFUNCS.get(name)
        if kfunc is None:
            if name in NOT_FOR_XDP:
                raise Reject(f"calling kernel function {name} is not allowed")
            if name in SLEEPABLE_FOR_XDP:
                raise Reject(f"program must be sleepable to call sleepable kfunc {name}")
            if name in OTHER_XDP_KFUNCS:
                raise XdpError(f"verifier: calls to kfunc {name} are not implemented ({OTHER_XDP_KFUNCS[name]})")
            raise XdpError(f"verifier: kfunc {name} is not in xdptool's table of Linux 6.18 kfuncs")
        if dynptr.is_dynptr_kfunc(kfunc):
            return dynptr.kfunc_call(self, insn, kfunc)
        if iterators.is_iter_kfunc(kfunc):
            return iterators.kfunc_call(self, insn, kfunc)
        if kfunc.needs or kfunc.dev_bound:  # (dev_bound ones are refused before the walk)
            raise XdpError(f"verifier: calls to kfunc {name} are not implemented ({kfunc.needs or 'arguments'})")
        self._value_decided(_first_args(len(kfunc.params)))  # constants, NULL for memory...
        self.btf_ptrs.kfunc_call(insn, kfunc)
        return insn.pc + 1

    def _loop_call(self, insn: Instruction) -> int:
        """bpf_loop (check_helper_call, push_callback_call): while the caller has run fewer
        callbacks than R1 may ask for (callback_depth < umax), a walk of the callback is
        queued with the count one higher; this path goes on after the call (the loop is
        over) with the count reset.  The callback's exit comes back to this call."""
        state = self.state
        caller = state.cur
        if caller.callback_depth < state.regs[1].umax:
            if len(state.frames) >= MAX_CALL_FRAMES:
                raise Reject(f"the call stack of {len(state.frames) + 1} frames is too deep")
            queued = state.copy()
            queued.cur.callback_depth += 1
            target = queued.regs[2].off
            callee = Frame(len(queued.frames), insn.pc, self.cfg.subprog_of(target), callback=True)
            callee.regs[1] = Reg.shared_unknown()
            callee.regs[2] = queued.regs[3]
            queued.frames.append(callee)
            self.stack_depth.setdefault(callee.subprog, 0)
            self.push(queued, target, insn.pc)
            if self.track is not None:  # that path went into the callback
                self.pending[-1][4][-1] = (insn.pc, backtrack.CALL_CALLBACK, 0, 0)
        caller.callback_depth = 0
        regs = caller.regs
        for r in range(1, 6):
            regs[r] = NOT_INIT
            self.scratched.add(r)
        regs[0] = Reg.shared_unknown()
        self.scratched.add(0)
        return insn.pc + 1

    def _prev_entry(self, pc: int, frames: int, skip_head: bool = False) -> Entry | None:
        """find_prev_entry: the checkpoint at `pc` earlier on this path, with as many frames
        called from the same call sites (same_callsites: a subprogram called twice is two loops)."""
        entry = self.head
        if skip_head and entry is not None and entry.pc == pc:
            entry = entry.parent
        sites = [f.callsite for f in self.state.frames[:frames]]
        while entry is not None and not (entry.pc == pc and len(entry.state.frames) == frames
                                         and [f.callsite for f in entry.state.frames] == sites):
            entry = entry.parent
        return entry

    def _check_arg(self, helper, regno, arg, meta):  # types: checker.pxd
        if arg is _ARG_DONTCARE:
            return
        reg = self.read_reg(regno)
        if arg is _ARG_ANYTHING:
            if is_pointer_type(reg.type) and not self.allow_ptr_leaks:
                raise Reject(f"R{regno} leaks addr into helper function")
            return
        if arg is _ARG_UNSUPPORTED:
            raise XdpError(f"verifier: argument {regno} of {helper.full_name} is not implemented")
        if arg in dynptr.HELPER_ARGS:
            return dynptr.check_helper_arg(self, helper, regno, reg, arg, meta)
        if arg in (_ARG_MAP_VALUE, _ARG_UNINIT_MAP_VALUE) and meta["map"] is not None and meta["map"].type in _SOCK_MAPS:
            if arg is _ARG_UNINIT_MAP_VALUE:  # resolve_map_arg_type
                raise Reject("invalid arg_type for sockmap/sockhash")
            arg = _ARG_SOCK_COMMON  # a sockmap's values are sockets
        if arg in _NULLABLE_ARGS and reg.is_scalar and reg.is_const and reg.const_value == 0:
            if arg is _ARG_MEM_OR_NULL:
                meta["mem"] = (regno, reg, True)
            return
        expected, allowed = EXPECTED[arg]
        if reg.type not in allowed:
            raise Reject(f"R{regno} type={reg.type.value} expected={expected}")
        if reg.ref_obj_id:
            meta["ref_obj_id"] = reg.ref_obj_id
        if reg.btf_type is not None and arg is _ARG_SOCK_COMMON:
            self.btf_ptrs.sock_common_arg(regno, reg, helper.releases == regno)
        elif arg is _ARG_TASK:
            callbacks.check_task_arg(self, regno, reg)
        if helper.releases == regno:
            self._check_arg_reg_off(regno, reg, release=True)
            if not reg.ref_obj_id:
                raise Reject(f"R{regno} must be referenced when passed to release function")
            meta["ref"] = reg.ref_obj_id
        elif is_pointer_type(reg.type) and reg.type is not T_FUNC:  # (a func's `off` is its first slot, not an offset)
            self._check_arg_reg_off(regno, reg)
        if arg is _ARG_CONST_MAP_PTR:
            callbacks.check_map_arg(meta, reg)
            meta["map"] = reg.map
            if helper.name == "tail_call" and reg.map.type != MapType.PROG_ARRAY:
                raise Reject("expected prog array map for tail call")
        elif arg is _ARG_CTX:
            if reg.off:
                raise Reject(f"dereference of modified ctx ptr R{regno} off={reg.off} disallowed")
        elif arg is _ARG_SPIN_LOCK:
            self._spin_lock(regno, reg, helper.name == "spin_lock")
        elif arg is _ARG_TIMER:
            callbacks.check_timer_arg(self, regno, reg, meta)
        elif arg in (_ARG_MAP_KEY, _ARG_MAP_VALUE, _ARG_UNINIT_MAP_VALUE):
            mapdef = meta["map"]
            if mapdef is None:
                raise Reject("invalid map_ptr to access map->key" if arg is _ARG_MAP_KEY else "invalid map_ptr to access map->value")
            size = mapdef.key_size if arg is _ARG_MAP_KEY else mapdef.value_size
            self.helper_mem_access(regno, reg, size, write=arg is _ARG_UNINIT_MAP_VALUE, zero_ok=False)
            if arg is _ARG_MAP_KEY and mapdef.type in _ELIDE_NULL_TYPES and not mapdef.flags & BPF_F_INNER_MAP:
                meta["const_key"] = self._const_map_key(reg, size)
        elif arg in (_ARG_MEM, _ARG_MEM_OR_NULL, _ARG_UNINIT_MEM):
            meta["mem"] = (regno, reg, arg is _ARG_UNINIT_MEM)
        elif arg in FIXED_SIZE:
            size = FIXED_SIZE[arg]
            self.helper_mem_access(regno, reg, size, write=True, zero_ok=False)
            self._check_alignment(reg, 0, size)
        elif arg in (_ARG_CONST_SIZE, _ARG_CONST_SIZE_OR_ZERO):
            zero_ok = arg is _ARG_CONST_SIZE_OR_ZERO
            if reg.smin < 0:
                raise Reject(f"R{regno} min value is negative, either use unsigned index or do a if (index >=0) check.")
            if reg.umin == 0 and not zero_ok:
                raise Reject(f"R{regno} invalid zero-sized read: u64=[{reg.umin},{reg.umax}]")
            if reg.umax >= MAX_VAR_SIZ:
                raise Reject(f"R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'")
            mem_regno, mem_reg, write = meta["mem"]
            if mem_reg.is_scalar:  # NULL for a *_OR_NULL argument
                if reg.umax:
                    raise Reject(f"R{mem_regno} type=scalar expected={MEM_TYPES}")
                return
            self.helper_mem_access(mem_regno, mem_reg, reg.umax, write=write, zero_ok=zero_ok)
        elif arg is _ARG_CONST_ALLOC_SIZE:
            if not reg.is_const:
                raise Reject(f"R{regno} is not a known constant'")
            meta["alloc"] = reg.const_value

    def helper_mem_access(self, regno: int, reg: Reg, size: int, *, write: bool, zero_ok: bool) -> None:
        t = reg.type
        if t is T_STACK:
            self.helper_stack_access(regno, reg, size, write, zero_ok)
        elif t.is_pkt:
            self.check_packet_access(regno, reg, reg.off, size, zero_ok)
        elif t is T_MAP_VALUE:
            _check_map_access_type(reg.map, reg.off, size, write)
            self.check_region_access(regno, reg, reg.off, size, reg.map.value_size, zero_ok)
            self._check_special_fields(reg, reg.off, size, helper=True)
        elif t in (T_MEM, T_RINGBUF_MEM, T_MAP_KEY, T_RDONLY_MEM):
            if write and t in (T_MAP_KEY, T_RDONLY_MEM):
                raise Reject(f"R{regno} cannot write into {t.value}")
            limit = reg.map.key_size if t is T_MAP_KEY else reg.mem_size
            self.check_region_access(regno, reg, reg.off, size, limit, zero_ok)
        elif t is RegType.TRUSTED_BTF_ID:  # check_helper_mem_access: the bytes must be readable fields
            self.btf_ptrs.helper_access(regno, reg, size)

    # -- after the walk -------------------------------------------------------------------------
    def _check_stack_depth(self) -> None:
        """check_max_stack_depth: frames along any call chain share 512 bytes, each frame rounded
        up to 16 bytes (round_up_stack_depth with the JIT, as x86-64 kernels run programs)."""
        starts = self.cfg.subprog_starts
        if self.fastcall is not None:  # remove_fastcall_spills_fills runs first
            for sub, d in self.stack_depth.items():
                self.stack_depth[sub] = self.fastcall.stack_depth(sub, d)
        if len(starts) == 1:
            return  # one frame: its accesses were bounded by 512 bytes already
        depth = {s: -(-d // 16) * 16 for s, d in self.stack_depth.items()}
        calls: dict[int, set[int]] = {}
        for insn in self.insns:
            if insn.code == codes.CALL and insn.src == 1:
                callee = starts.index(insn.target)
            elif insn.code == codes.LD_IMM64 and insn.src == PseudoSrc.FUNC:  # a callback runs on its caller's stack
                callee = starts.index(insn.pc + 1 + insn.imm)
                if callee in self.async_subprogs:  # ... unless it is a timer's: a root of its own
                    continue
            else:
                continue
            calls.setdefault(self.cfg.subprog_of(insn.pc), set()).add(callee)

        for root in (0, *sorted(self.async_subprogs)):
            _walk_stack_depth(depth, calls, root, 0, 1)

    def release(self) -> None:
        """Drops the helpers that point back at the checker (Tracker, BtfPointers), so reference
        counting frees the walk's states when the checker goes: as a cycle they waited for the
        collector, whose next pass traversed them all (7 % of a benchmark's time)."""
        self.track = None
        del self.btf_ptrs.ck
        clear_log_cache()
        clear_caches()  # while its entries are still in the CPU's caches, not at the next program's start


_HELPER_ARGS: dict = {}  # id(helpers table) -> (the table, helper id -> argument registers it reads)


class CallHandler(Handler):
    """A handler that is a plain function (refusals: rare, so a Python call is fine)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def run(self, insn: Instruction):
        return self.fn(insn)


class MethodHandler(Handler):
    """A handler that runs one of the checker's general methods (a C call compiled)."""

    __slots__ = ("checker",)

    def __init__(self, checker: Checker):
        self.checker = checker


class LdHandler(MethodHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        return self.checker.ld(insn)


class LdxHandler(MethodHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        return self.checker.ldx(insn)


class StoreHandler(MethodHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        return self.checker.store(insn)


class AluHandler(MethodHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        return self.checker.alu(insn)


class JmpHandler(MethodHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        return self.checker.jmp(insn)


class AtomicHandler(MethodHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        return self.checker.atomic(insn)


_ATOMIC_HANDLER = 8  # its index in handlers_by_class(), after the eight instruction classes


def _helper_args(helpers) -> dict:
    """Helper id -> how many argument registers it reads, of the helpers it implements: made
    once per table (a profile's table is a module constant; build_cfg only reads the answer)."""
    known = _HELPER_ARGS.get(id(helpers))
    if known is None or known[0] is not helpers:
        known = _HELPER_ARGS[id(helpers)] = (helpers, {func_id: len(helper.args) for func_id, helper in helpers.items()
                                                       if not helper.unsupported})
    return known[1]


_ARG_REGS = 0b111110  # r1-r5, as a register mask


def _first_args(count: int) -> int:
    """The register mask of the first `count` arguments (r1 .. r<count>)."""
    return (1 << (count + 1)) - 2


def _visit_kind(pc, callback_calls: set, may_gotos: set, iter_nexts: set) -> int:  # types: checker.pxd
    """Which kind of checkpoint Checker._visit makes at the prune point `pc` (the Cfg's sets of
    forced checkpoints, read once by the caller)."""
    return (VISIT_CALLBACK if pc in callback_calls else VISIT_MAY_GOTO if pc in may_gotos
            else VISIT_ITER_NEXT if pc in iter_nexts else VISIT_PLAIN)


def _general_of(by_class: tuple, code) -> Handler:  # types: checker.pxd
    """The general handler of an instruction with opcode `code` (Checker.general_handler)."""
    if code & 0xE7 == _ATOMIC_STX:
        return by_class[_ATOMIC_HANDLER]
    return by_class[code & 0x07]


def _walk_stack_depth(depth: dict, calls: dict, sub: int, total: int, frames: int) -> None:
    """check_max_stack_depth along every call chain from `sub` (a function, not a closure: a
    recursive closure is a reference cycle)."""
    total += depth.get(sub, 0)
    if total > MAX_BPF_STACK:
        raise Reject(f"combined stack size of {frames} calls is {total}. Too large")
    for callee in calls.get(sub, ()):
        _walk_stack_depth(depth, calls, callee, total, frames + 1)


def _add_variable(result: Reg, ptr: Reg, off: Reg, sign: int) -> None:
    """Variable part of pointer +/- scalar (the bounds add/sub of adjust_ptr_min_max_vals)."""
    if sign > 0:
        scalar_alu(result, OP_ADD, off, True)
    else:
        scalar_alu(result, OP_SUB, off, True)


# check_ptr_alignment's names of the pointers whose alignment a strict access checks (the
# stack's is checked on every access, packets cannot take atomics)
_OFF_OK_TYPES = frozenset({T_STACK, T_PKT, T_PKT_META, T_MAP_KEY, T_MAP_VALUE, T_MEM, T_RINGBUF_MEM, T_SCALAR,
                           T_RDONLY_MEM})
_ALIGN_DESC = {T_MAP_KEY: "key ", T_MAP_VALUE: "value ", T_CTX: "context ", T_MEM: "", T_RINGBUF_MEM: "",
               T_RDONLY_MEM: ""}


def _tnum_text(t: Tnum) -> str:
    """tnum_strn: a constant in decimal (hex when large), else (value; mask)."""
    if not t.mask:
        return unum(t.value)
    return str(t)


def _check_map_access_type(mapdef, off: int, size: int, write: bool) -> None:
    """check_map_access_type: what bpf_map_flags_to_cap lets the program do with the values."""
    if write and not map_prog_can_write(mapdef):
        raise Reject(f"write into map forbidden, value_size={mapdef.value_size} off={off} size={size}")
    if not write and not map_prog_can_read(mapdef):
        raise Reject(f"read from map forbidden, value_size={mapdef.value_size} off={off} size={size}")


def _gpl_compatible(license: str) -> bool:
    return license in ("GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL")


_PKT_DATA_TYPES = frozenset({T_PKT, T_PKT_META, T_PKT_END})


def _forget_pkt_data(state: State, invalid: Reg) -> None:
    """clear_all_pkt_pointers after a helper that changes packet data: every packet pointer
    (and packet slice) becomes `invalid`.  (A function of its own: helper_call is compiled as
    a C function, which cannot hold the lambda.)"""
    state.replace_regs(lambda reg: invalid if reg.type in _PKT_DATA_TYPES or dynptr.is_pkt_slice(reg) else None)
_OBJECT_KINDS = frozenset({dynptr.KIND, iterators.KIND})  # stack bytes of a dynptr or an iterator: never read
# Pointers a comparison with 0 decides (kernel reg_not_null, Linux 6.18): packet, stack
# and ctx pointers are not among them, so both sides of `if r1 != 0` are explored.
_NON_NULL = frozenset({T_MAP_VALUE, T_MAP_KEY, T_MEM, T_RINGBUF_MEM, T_MAP_PTR, T_SOCKET, T_SOCK_COMMON, T_XDP_SOCK,
                       T_RDONLY_MEM})


def _mark_ptr_or_null(state: State, reg_id: int, is_null: bool, keep_id: bool = False) -> None:
    """mark_ptr_or_null_regs: on the NULL side a reference the pointer carried is no more;
    `keep_id`: a map value that may hold a spin lock keeps its id (which lock it is)."""
    if is_null:
        state.refs = tuple(r for r in state.refs if r[0] != reg_id)

    def change(reg: Reg) -> Reg | None:
        if not (reg.type.maybe_null and reg.id == reg_id):
            return None
        return Reg.shared_const(0) if is_null else _not_null(reg, keep_id)

    state.replace_regs(change, reg_id)


_MAP_OF_MAPS = frozenset({MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS})
_NULLABLE_ARGS = frozenset({Arg.MEM_OR_NULL, Arg.STACK_OR_NULL})  # NULL (a scalar 0) passes unchecked
_SOCK_MAPS = frozenset({MapType.SOCKMAP, MapType.SOCKHASH})
_ELIDE_NULL_TYPES = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY})  # can_elide_value_nullness
_SPIN_UNLOCK = HELPER_ID["spin_unlock"]  # the one helper a held lock allows
# mark_ptr_not_null_reg: what a lookup in these maps gives once not NULL
_LOOKUP_GIVES = {MapType.XSKMAP: T_XDP_SOCK, MapType.SOCKMAP: T_SOCKET, MapType.SOCKHASH: T_SOCKET}


def _not_null(reg, keep_id=False):  # types: checker.pxd
    """mark_ptr_not_null_reg: a lookup in a map of maps gives the inner map once not NULL,
    one in an xskmap an xdp_sock, one in a sockmap/sockhash a socket (a reference)."""
    new = reg.copy()
    new.type = NON_NULL_OF[reg.type]
    if not keep_id:
        new.id = 0
    if new.type is T_MAP_VALUE:
        if new.map.type in _MAP_OF_MAPS:
            if new.map.inner is None:
                raise XdpError(f"verifier: map of maps {new.map.name} without an inner map template is not implemented")
            new.type, new.map, new.off = T_MAP_PTR, new.map.inner, 0
        elif new.map.type in _LOOKUP_GIVES:
            new.type, new.map = _LOOKUP_GIVES[new.map.type], None
    return new


def _pkt_compare(dst: Reg, src: Reg, op: int):
    """try_match_pkt_pointers: (good register is dst?, good in the taken branch?, right-open range?)."""
    def is_pkt_vs_end(a: Reg, b: Reg) -> bool:
        return (a.type is T_PKT and b.type is T_PKT_END) or (
            a.type is T_PKT_META and b.type is T_PKT and b.off == 0 and b.is_const and b.const_value == 0)

    if is_pkt_vs_end(dst, src):
        return _PKT_LEFT[op]
    if is_pkt_vs_end(src, dst):
        return _PKT_RIGHT[op]
    return None


# pkt' op end: good where pkt' <= end (closed) or pkt' < end (open)
_PKT_LEFT = {OP_JGT: (True, False, False), OP_JGE: (True, False, True),
             OP_JLT: (True, True, True), OP_JLE: (True, True, False)}
# end op pkt'
_PKT_RIGHT = {OP_JGT: (False, True, True), OP_JGE: (False, True, False),
              OP_JLT: (False, False, False), OP_JLE: (False, False, True)}


def _find_good_pkt_pointers(state: State, good: Reg, open_right: bool) -> None:
    if good.off < 0 or (good.off == 0 and open_right):
        return
    if good.umax > MAX_PACKET_OFF or good.umax + good.off > MAX_PACKET_OFF:
        return
    new_range = good.off + (1 if open_right else 0)

    def change(reg: Reg) -> Reg | None:
        if reg.type is not good.type or reg.id != good.id or reg.range >= new_range:
            return None
        new = reg.copy()
        new.range = new_range
        return new

    state.replace_regs(change, good.id)
