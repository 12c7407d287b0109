cimport cython

# Class layout for the Cython build (setup.py, native.py): the .py is the source;
# this only makes its classes extension types with C slots for their attributes.
cdef class Bounds:
    cdef public object var_off, smin, smax, umin, umax, s32_min, s32_max, u32_min, u32_max


# _sync runs on C integers; see its docstring for how its expressions stay exact.
cdef unsigned long long _SIGN64, _SMAX64, _HIGH32
cdef long long _M32, _B31, _B32


@cython.locals(tv=cython.ulonglong, tm=cython.ulonglong, one=cython.ulonglong, rnd=cython.long,
               pair=cython.long, v32=cython.longlong, m32=cython.longlong, x32=cython.longlong,
               xs=cython.longlong, ys=cython.longlong, xu=cython.ulonglong, yu=cython.ulonglong,
               lo=cython.ulonglong, hi=cython.ulonglong, lo32=cython.longlong, hi32=cython.longlong,
               slo=cython.longlong, shi=cython.longlong, bits=cython.long, delta=cython.ulonglong)
cpdef tuple _sync(var_off, long long smin, long long smax, unsigned long long umin, unsigned long long umax,
                  long long s32_min, long long s32_max, long long u32_min, long long u32_max)


@cython.locals(n=cython.long, step=cython.long)
cdef inline long _bit_length(unsigned long long x)
