# Types for the Cython build (setup.py, native.py): the .py is the source; these
# declarations let the per-ALU and per-branch link bookkeeping read registers from their
# C slots and be called as C functions (fastpath, pruning, checker cimport them).
cimport cython

from .state cimport Frame, Reg, StackSlot, State

cdef long _ADD_CONST, _BASE

cpdef long base_id(long reg_id)
cpdef link_after_alu(Reg result, Reg dst, long op, Reg src, bint is64, bint same_reg, bint capable)
@cython.locals(changed=Reg)
cpdef Reg before_mov(Reg reg, new_id)
@cython.locals(base=cython.long, frames=list, frameno=cython.Py_ssize_t, frame=Frame, live=cython.long, regs=list,
               regno=cython.long, reg=Reg, stack=dict, slot=StackSlot)
cpdef collect(State state, long reg_id, list live_in, long pc, list entries)
@cython.locals(new=Reg)
cpdef Reg _unlinked(Reg reg)
@cython.locals(frames=list, known=Reg, known_base=cython.long, known_off=cython.long, where=cython.long,
               index=cython.long, is_reg=cython.bint, frame=Frame, reg=Reg, off=cython.long, new=Reg)
cpdef sync(State state, long frameno, long regno, list entries)
cpdef long _delta(Reg reg)
@cython.locals(old_id=cython.long, cur_id=cython.long)
cpdef bint ids_safe(Reg old, Reg cur, ids) except -1
