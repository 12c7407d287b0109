# Class layout for the Cython build (setup.py, native.py): the .py is the source;
# this only makes its classes extension types with C slots for their attributes.
cimport cython

from .scalar cimport Bounds


cdef class HashedKey:
    cdef readonly tuple fields
    cdef readonly Py_hash_t hash


@cython.locals(key=HashedKey)
cpdef HashedKey hashed_key(tuple fields)


cdef class Reg(Bounds):
    cdef public object type, map, btf_type, dynptr, _key
    cdef public long off, id, range, frameno, mem_size, ref_obj_id

    @cython.locals(new=Reg)
    cpdef Reg copy(self)
    cpdef HashedKey key(self)


cdef class StackSlot:
    cdef public object kinds, spilled

    @cython.locals(new=StackSlot)
    cpdef StackSlot copy(self)
    # per slot of every state exact_key identifies (pruning.py): a C call
    @cython.locals(spilled=Reg)
    cpdef tuple key(self)


cdef class Frame:
    cdef public list regs
    cdef public dict stack
    cdef public set owned
    cdef public object frameno, callsite, subprog, callback, callback_depth

    @cython.locals(new=Frame)
    cpdef Frame copy(self)
    @cython.locals(regs=list, slot=StackSlot, spilled=Reg)
    cpdef replace_regs(self, change, reg_id=*)
    @cython.locals(slot=StackSlot)
    cpdef StackSlot slot(self, spi)


cdef class State:
    cdef public list frames
    cdef public object refs, lock
    cdef public long may_goto_depth

    @cython.locals(frames=list, frame=Frame)
    cpdef State copy(self)
    @cython.locals(frame=Frame)
    cpdef replace_regs(self, change, reg_id=*)


@cython.locals(reg=Reg)
cpdef Reg new_const_reg(value)


@cython.locals(reg=Reg)
@cython.locals(consts=dict)
cpdef Reg shared_const_reg(value)


# Per instruction (checker.py): `t.is_pointer` without an attribute read on the Enum member.
cpdef bint is_pointer_type(t) except -1
