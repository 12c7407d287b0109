# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
from .scalar cimport Bounds


cdef tuple _get(Bounds reg, long bits)


cdef _put(Bounds reg, long bits, smin, smax, umin, umax)


# The checker's conditional jumps call these directly (checker.pxd cimports them); op and
# bits C integers, the bounds Python integers (refine may go past a range before is_empty).
cpdef object branch_taken(Bounds a, Bounds b, long op, long bits)


cpdef bint refine(Bounds a, Bounds b, long op, long bits) except -1
