# Class layout for the Cython build (setup.py, native.py): the .py is the source.
# The walk calls `run` through the C method table, not as a Python call.
cdef class Handler:
    cpdef run(self, insn)
