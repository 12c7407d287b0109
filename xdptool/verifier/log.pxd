# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
from .state cimport Frame, Reg, StackSlot


# What the compiled checker calls per logged instruction: C calls (checker.pxd cimports them)
cpdef str kernel_insn_text(insn)
cpdef str align_comment(str text)
# Twice per analysis (Checker.__init__ and release): a C call (the caches stay untyped:
# tests put other mappings in their place)
cpdef clear_cache()
