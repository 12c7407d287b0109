# Class layout for the Cython build (setup.py, native.py): the .py is the source;
# this only makes its classes extension types with C slots for their attributes
# (and, with the cimports, lets annotations of the state classes compile to slot access).
cimport cython

from .backtrack cimport Tracker, precise_of
from .handler cimport Handler
from .precision cimport Precision
from .scalar cimport clear_caches, scalar_alu
from .branches cimport branch_taken, refine
from .pruning cimport exact_key, first_difference, hinted_miss, quick_hint, quick_miss
from .state cimport Frame, Reg, StackSlot, State, is_pointer_type
from .log cimport align_comment, clear_cache as clear_log_cache, kernel_insn_text

cdef class Entry:
    cdef public object state, pc, parent, key, hint, quick, marks, hist, open_hint
    cdef public long branches, hits, misses
    cdef public bint loose


cdef class Checker:
    cdef public object program, attach, profile, maps, insns, cfg, lines, stack_depth, facts
    cdef public dict done, active
    cdef public list pending
    cdef public State state
    cdef public object head, scratched, scratched_slots, prev_line, observed
    cdef public Precision _precision
    cdef public list live_in
    cdef public object global_funcs, called_globals, btf, btf_ptrs, async_subprogs, fastcall
    cdef public Tracker track
    cdef public list hist
    cdef public long insn_limit, log_level, processed, total_states, peak_states, cur_states, max_states_per_insn, id_gen, jmps, pc
    cdef public long checkpoint_jmps, checkpoint_insns
    cdef public bint collect_facts, relax_imprecise, exact_keys, allow_uninit, allow_ptr_leaks, privileged

    # The methods every instruction calls: direct C calls from the compiled walk and
    # handlers instead of a Python method lookup per call (still callable from Python).
    cpdef object _pop(self)
    @cython.locals(step=tuple, handler=Handler, after=cython.long, visit_kind=cython.long, track=cython.bint, per_insn_checks=cython.bint,
                   log_level=cython.long, collect_facts=cython.bint)
    cpdef _walk(self, list steps, State state, long pc)
    cpdef push(self, State state, long pc, long prev)
    @cython.locals(entry=Entry, active=dict)
    cpdef _end_path(self)
    @cython.locals(state=State, entry=Entry, active=dict, done=list)
    cpdef bint _visit(self, long pc, long kind) except -1
    cpdef tuple _precise_at(self, long pc)
    cpdef _log_insn(self, insn)
    @cython.locals(frame=Frame, reg=Reg)
    cpdef Reg read_reg(self, long regno)
    @cython.locals(frame=Frame)
    cpdef write_reg(self, long regno, Reg value)
    cpdef long new_id(self) except -1
    @cython.locals(frame=Frame, regs=list, reg=Reg, mask=cython.long, regno=cython.long)
    cpdef _value_decided(self, long regs_mask)
    cpdef bint is_pointer_value(self, Reg reg) except -1
    # fastpath.py's conditional jumps call it directly when the operands are not constants
    @cython.locals(src=Reg, dst=Reg, t_dst=Reg, f_dst=Reg, t_src=Reg, f_src=Reg, other=State, taken_ok=cython.bint,
                   fall_ok=cython.bint, fall_frame=Frame, taken_frame=Frame, fall_regs=list, taken_regs=list)
    cpdef long cond_jmp_decoded(self, insn, long op, long bits, long d, s, imm, long fall, long target) except? -1
    # The general handlers of ALU, loads and stores: the instruction's fields read once into C integers
    @cython.locals(code=cython.long, d=cython.long, s=cython.long, op=cython.long, is64=cython.bint, uses_reg=cython.long,
                   dst=Reg, src=Reg, result=Reg)
    cpdef alu(self, insn)
    @cython.locals(code=cython.long, d=cython.long, s=cython.long, is_ldsx=cython.bint, base=Reg)
    cpdef ldx(self, insn)
    @cython.locals(code=cython.long, d=cython.long, s=cython.long, is_stx=cython.bint, base=Reg, value=Reg)
    cpdef store(self, insn)
    cpdef ld(self, insn)
    cpdef jmp(self, insn)
    cpdef atomic(self, insn)
    # Every load and store: a C call with C integer arguments, not a Python call with keywords
    cpdef mem_access(self, long regno, Reg base, long off, long size, bint write, value=*, value_regno=*,
                     bint is_ldsx=*, bint strict=*)
    # Called per instruction or per branch: C calls, not Python calls (their .py signatures carry no types)
    cpdef _pruned_by(self, Entry entry)
    cpdef _note(self, kind, frameno=*, slots=*)
    cpdef _mov(self, insn, is64)
    cpdef _before_mov(self, regno, Reg src)
    cpdef _pointer_alu(self, insn, Reg dst, Reg src, is64)
    cpdef _map_read(self, Reg base, off, size)
    cpdef check_packet_access(self, regno, Reg reg, off, size, zero_ok=*)
    cpdef check_region_access(self, regno, Reg reg, off, size, mem_size, zero_ok=*)
    cpdef _stack_bounds(self, long regno, Reg reg, long off, long size, what)
    cpdef _check_alignment(self, Reg reg, long off, long size)
    cpdef _stack_access(self, long regno, Reg reg, long off, long size, bint write, value, value_regno)
    cpdef _read_slots(self, Frame frame, lo, hi)
    cpdef _scrub_byte(self, Frame frame, byte)
    @cython.locals(slot=StackSlot, target=StackSlot, spilled=Reg)
    cpdef _stack_write(self, Frame frame, lo, size, Reg value, value_regno=*)
    cpdef _stack_read(self, Frame frame, lo, size, regno)
    @cython.locals(state=State, callee=Frame, caller=Frame, r0=Reg)
    cpdef _exit(self, insn)
    cpdef _check_reference_leak(self, what)
    cpdef _may_goto(self, insn)
    cpdef _local_call(self, insn)
    cpdef _collect_links(self, pc, Reg dst, src)
    cpdef _pointer_cond(self, insn, Reg dst, Reg src, bits, fall, target)
    cpdef helper_call(self, insn)
    cpdef _record(self, mapdef)
    cpdef _may_point_to_spin_lock(self, Reg reg)
    cpdef _kfunc_call(self, insn)
    cpdef _check_arg(self, helper, regno, arg, meta)
    # Once per instruction before the walk (a C call, not a method lookup each)
    cpdef Handler general_handler(self, insn, tuple by_class=*)
    @cython.locals(pc=cython.long, code=cython.long, steps=list, prune_points=set, visit_errors=dict, by_class=tuple,
                   callback_calls=set, may_gotos=set, iter_nexts=set)
    cpdef list _steps(self)



cdef class CallHandler(Handler):
    cdef object fn
    cpdef run(self, insn)


cdef class MethodHandler(Handler):
    cdef Checker checker


cdef class LdHandler(MethodHandler):
    cpdef run(self, insn)


cdef class LdxHandler(MethodHandler):
    cpdef run(self, insn)


cdef class StoreHandler(MethodHandler):
    cpdef run(self, insn)


cdef class AluHandler(MethodHandler):
    cpdef run(self, insn)


cdef class JmpHandler(MethodHandler):
    cpdef run(self, insn)


cdef class AtomicHandler(MethodHandler):
    cpdef run(self, insn)


cdef Py_ssize_t _PC_AT, _CODE_AT
cdef long VISIT_NONE, VISIT_PLAIN, VISIT_CALLBACK, VISIT_MAY_GOTO, VISIT_ITER_NEXT, _LD_IMM64, _ATOMIC_STX, _ATOMIC_HANDLER
# The walk's limits, compared at every instruction, push and visit: C integers, not module globals
# compared with a boxed counter.
cdef long INSN_LIMIT, JMP_SEQ_LIMIT, STATES_PER_INSN, CALLSITE_MISSES
cpdef Reg _not_null(Reg reg, keep_id=*)
cpdef long _visit_kind(long pc, set callback_calls, set may_gotos, set iter_nexts) except -1
cpdef Handler _general_of(tuple by_class, long code)
