# Class layout for the Cython build (setup.py, native.py): the .py is the source;
# this only makes its classes extension types with C slots for their attributes.
cdef class Bounds:
    cdef public object var_off, smin, smax, umin, umax, s32_min, s32_max, u32_min, u32_max
