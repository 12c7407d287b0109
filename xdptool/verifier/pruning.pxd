# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
cimport cython

from .state cimport Frame, HashedKey, Reg, StackSlot, State, hashed_key
from .linked cimport ids_safe


# exact_key runs at every checkpoint (loop detection): its loop variables typed, so the
# frames' and registers' fields are read from their C slots.
cdef class _IdMap:
    cdef public dict forward, backward
    cdef public object tmp

    @cython.locals(forward=dict, backward=dict)
    cpdef bint check(self, old, cur) except -1
    cpdef bint check_scalar(self, old, cur) except -1


cdef class _FreshIds(_IdMap):
    cpdef bint check(self, old, cur) except -1
    cpdef bint check_scalar(self, old, cur) except -1


@cython.locals(frame=Frame, last=Frame, reg=Reg, regs=list, key=list, i=cython.Py_ssize_t, indices=dict, slot=StackSlot)
cpdef HashedKey exact_key(State state, live)


# The comparisons pruning runs at every prune point, register by register and slot by
# slot: direct C calls between them, frames and registers read from their C slots.
@cython.locals(ov=object, om=object, cv=object, cm=object)
cpdef bint within(Reg old, Reg cur) except -1


@cython.locals(kinds=dict, kind=cython.long)
cpdef bint regsafe(Reg old, Reg cur, _IdMap ids) except -1


@cython.locals(ospilled=Reg, cspilled=Reg, okinds=list, ckinds=list, j=cython.Py_ssize_t)
cpdef bint slotsafe(long spi, StackSlot oslot, StackSlot cslot, _IdMap ids, bint allow_uninit, precise_slots) except -1


@cython.locals(cstack=dict, spi=object, oslot=StackSlot)
cpdef object stacksafe(Frame old, Frame cur, _IdMap ids, bint allow_uninit, precise_slots=*, live_slots=*)


@cython.locals(precise_regs=cython.long, oframes=list, cframes=list, last=cython.Py_ssize_t,
               index=cython.Py_ssize_t, i=cython.long, of=Frame, cf=Frame, oregs=list, cregs=list, o=Reg, c=Reg)
cpdef object first_difference(State old, State cur, long live, bint allow_uninit, tuple precise=*)


cpdef bint _refsafe(State old, State cur, _IdMap ids) except -1


# The checker's _visit calls these directly (checker.pxd cimports them).
cpdef object quick_hint(State old, hint)


# Per checkpoint compared (Checker._visit): a C call
cpdef object quick_miss(State old, State cur, hint, live, allow_uninit, tuple precise)


@cython.locals(qdepth=cython.long, qtype=object, qoff=object, qrange=object, o=Reg)
cpdef bint hinted_miss(tuple quick, long depth, Reg c) except -1

# regsafe's kinds of pointer comparison: C integers
cdef long _BY_ID, _EXACT, _PKT, _MEM
cdef Py_ssize_t _LAST_BYTE
