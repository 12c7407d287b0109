# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
from .state cimport Frame, Reg, State
# The checker (cimported: checker.py imports this module only after its classes exist, so the
# type is there when this module's initialisation looks it up): its fields read from C slots.
from .checker cimport Checker
cimport cython

# Once per instruction before the walk: the row's fields read as C integers.
@cython.locals(code=cython.long, cls=cython.long, op=cython.long)
cpdef specialise(Checker checker, insn, general, tuple row)

# Opcode constants (plain ints in the .py): C integers while building the handlers.
cdef long _ALU, _ALU64, _JMP, _JMP32, _MOV, _X
