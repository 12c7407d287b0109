# Class layout for the Cython build (setup.py, native.py): the .py is the source;
# this only makes its classes extension types with C slots for their attributes.
from .scalar cimport Bounds
cdef class Reg(Bounds):
    cdef public object type, off, id, range, map, frameno, mem_size, _key
cdef class StackSlot:
    cdef public object kinds, spilled
cdef class Frame:
    cdef public object regs, stack, frameno, callsite, subprog, callback, owned
cdef class State:
    cdef public object frames
