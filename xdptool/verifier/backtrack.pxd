# Types for the Cython build (setup.py, native.py): the .py is the source; these
# declarations give the walk backwards C integers for an instruction's fields and the
# register masks (slot masks stay Python ints: 64 slots fill an unsigned 64-bit word).
cimport cython

cdef long _ARGS, _CALLER_SAVED, _MAX_FRAMES, _FETCH, _CMPXCHG
cdef long _ALU, _ALU64, _LDX, _ST, _STX, _LD, _JMP, _JMP32
cdef long _OP_MOV, _OP_NEG, _OP_END, _OP_CALL, _OP_EXIT, _OP_JA, _OP_JCOND, _X, _MODE_ATOMIC, _SIZE_DW


cdef class Tracker:
    cdef public object checker
    cdef public list rows
    cdef public bytearray structural

    @cython.locals(rows=list, by_pc=list, structural=bytearray, row=tuple, pc=cython.long, code=cython.long,
                   cls=cython.long, op=cython.long)
    cpdef _index_rows(self)

    cpdef mark_regs(self, long regs, bint current_done=*)
    cpdef mark_slots(self, long frameno, slots)
    cpdef propagate(self, old)
    cpdef hit_loose(self, old)

    @cython.locals(depth=cython.long, i=cython.Py_ssize_t, f=cython.long, seg=list, marks=list, mark=list,
                   structural=bytearray, new=cython.bint, live=cython.bint)
    cpdef _walk(self, list masks, bint current_done)

    @cython.locals(mask=list)
    cpdef bint _nothing_marked(self, list masks) except -1

    cpdef _give_up(self, entry)

    @cython.locals(pc=cython.long, kind=cython.long, frameno=cython.long, code=cython.long, dst=cython.long,
                   src=cython.long, imm=cython.long, cls=cython.long, op=cython.long, regs=cython.long,
                   dst_bit=cython.long, src_bit=cython.long, fetched=cython.long, atomic=cython.bint,
                   whole=cython.bint, mask=list, callee=list)
    cpdef long _back(self, elem, list masks, long depth) except -2


cpdef tuple precise_of(bint loose, marks, tuple static)
