# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
cimport cython

from .state cimport Frame, Reg, StackSlot, State


# exact_key runs at every checkpoint (loop detection): its loop variables typed, so the
# frames' and registers' fields are read from their C slots.
@cython.locals(frame=Frame, last=Frame, reg=Reg, regs=list, key=list, i=cython.Py_ssize_t)
cpdef tuple exact_key(State state, live)
