# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
from .scalar cimport Bounds


cdef tuple _get(Bounds reg, long bits)


cdef _put(Bounds reg, long bits, smin, smax, umin, umax)
