# Types for the Cython build (setup.py, native.py): the .py is the source; these
# declarations give the per-instruction transfer C integers for a row's fields and the
# register masks (slot masks stay Python ints: 64 slots fill an unsigned 64-bit word).
cimport cython

from .cfg cimport Cfg


cdef class Observed:
    cdef public set pointer_arith, stack_via_pointer, caller_stores, value_branches
    cdef public dict stack_reads, call_slots
    cdef public list news
    cdef public object range_checked


cdef unsigned long long ALL_SLOTS, _ONE


@cython.locals(low=cython.long, high=cython.long)
cpdef unsigned long long slot_mask(long lo, long hi)


@cython.locals(pc=cython.long, code=cython.long, dst=cython.long, src=cython.long, off=cython.long,
               cls=cython.long, op=cython.long)
cpdef unsigned long long _live_transfer(tuple row, unsigned long long live, bint bpf_loop, Observed seen)


@cython.locals(pc=cython.long, code=cython.long, dst=cython.long, src=cython.long, off=cython.long,
               cls=cython.long, op=cython.long, bit_dst=cython.long, bit_src=cython.long, uses_src=cython.bint,
               regs=cython.long)
cpdef tuple _transfer(tuple row, regs, unsigned long long slots, bint bpf_loop, Observed seen, args)


cdef class Precision:
    cdef public Observed seen
    cdef public Cfg cfg
    cdef public list rows, info, table
    cdef public object main_end, preds, consumed, next_row, frontier

    @cython.locals(regs=cython.long, slots=cython.ulonglong, live=cython.ulonglong, r=cython.long,
                   sl=cython.ulonglong, lv=cython.ulonglong, table=list)
    cpdef tuple _step(self, long pc)

    @cython.locals(rows=list, info=list, table=list, succ_of=dict, callbacks=set, i=cython.Py_ssize_t, at=cython.long,
                   row=tuple)
    cpdef _sweep_down_to(self, long pc)
    # per prune point compared (Checker._precise_at): a C call
    cpdef at(self, long pc)
    @cython.locals(table=list, frontier=cython.long, preds=dict, pending=set, pc=cython.long, p=cython.long,
                   old=tuple, merged=tuple)
    cpdef _solve(self, list work)


@cython.locals(code=cython.long)
cpdef _passes_on(Cfg cfg, tuple row, long main_end)


# Opcode constants (plain ints in the .py): C integers for the per-instruction transfer.
cdef long _CALL, _EXIT_CODE, _ALU, _ALU64, _JMP, _JMP32, _NEG, _END, _MUL, _DIV, _MOD, _LD, _LDX, _ST, _STX, _LD_IMM64, _MEM, _DW, _MOV, _EXIT, _CALL_OP, _JA, _IND, _ATOMIC
cdef Py_ssize_t _CODE_AT, _PC_AT
