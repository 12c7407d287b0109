cimport cython

# Class layout for the Cython build (setup.py, native.py): the .py is the source;
# this only makes its classes extension types with C slots for their attributes.
cdef class Bounds:
    cdef public object var_off, smin, smax, umin, umax, s32_min, s32_max, u32_min, u32_max

    cpdef bint is_empty(self)
    @cython.locals(u=cython.ulonglong, low=cython.longlong, signed=cython.longlong, boxed=object)
    cpdef set_const_bounds(self, v)
    @cython.locals(cache=dict)
    cpdef sync(self)


# Per ALU instruction on scalars (checker.py, fastpath.py): C calls.  op and is64 stay
# Python objects: they are part of the memo's key.
@cython.locals(cache=dict)
cpdef scalar_alu(Bounds dst, op, Bounds src, is64)
# Twice per analysis (Checker.__init__ and release): a C call
@cython.locals(sync_cache=dict, alu_cache=dict)
cpdef clear_caches()
@cython.locals(concrete=dict)
cpdef const_alu(op, a, b, is64)
cpdef _scalar_alu(Bounds dst, op, Bounds src, is64)


# _sync runs on C integers; see its docstring for how its expressions stay exact.
cdef unsigned long long _SIGN64, _SMAX64, _ALL64, _HIGH32
cdef long long _M32, _B31, _B32


@cython.locals(tv=cython.ulonglong, tm=cython.ulonglong, one=cython.ulonglong, rnd=cython.long,
               pair=cython.long, v32=cython.longlong, m32=cython.longlong, x32=cython.longlong,
               xs=cython.longlong, ys=cython.longlong, xu=cython.ulonglong, yu=cython.ulonglong,
               lo=cython.ulonglong, hi=cython.ulonglong, lo32=cython.longlong, hi32=cython.longlong,
               slo=cython.longlong, shi=cython.longlong, bits=cython.long, delta=cython.ulonglong)
cpdef tuple _sync(var_off, long long smin, long long smax, unsigned long long umin, unsigned long long umax,
                  long long s32_min, long long s32_max, long long u32_min, long long u32_max)


@cython.locals(n=cython.long, step=cython.long)
cdef long _bit_length(unsigned long long x)


@cython.locals(umax_all=cython.ulonglong, sign=cython.ulonglong, smax_all=cython.longlong, smin_all=cython.longlong,
               x=cython.ulonglong, y=cython.ulonglong, v=cython.ulonglong, mu=cython.ulonglong, tv=cython.ulonglong,
               tm=cython.ulonglong, ulo=cython.ulonglong, uhi=cython.ulonglong, slo=cython.longlong,
               shi=cython.longlong, over_lo=cython.bint, over_hi=cython.bint, signed_over=cython.bint)
cpdef tuple _plain_view(long op, long bits, unsigned long long av, unsigned long long am, long long asmin,
                        long long asmax, unsigned long long aumin, unsigned long long aumax, unsigned long long bv,
                        unsigned long long bm, long long bsmin, long long bsmax, unsigned long long bumin,
                        unsigned long long bumax)


cdef bint _add_overflows(long long x, long long y, long long lo, long long hi)


cdef bint _sub_overflows(long long x, long long y, long long lo, long long hi)


@cython.locals(umax_all=cython.ulonglong, sign=cython.ulonglong, smax_all=cython.longlong, smin_all=cython.longlong,
               tv=cython.ulonglong, tm=cython.ulonglong, sv=cython.longlong, sm=cython.longlong)
cpdef tuple _plain_shift(long op, long bits, long k, unsigned long long av, unsigned long long am, long long asmin,
                         long long asmax, unsigned long long aumin, unsigned long long aumax)
