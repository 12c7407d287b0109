# Types for the Cython build (setup.py, native.py): the .py is the source; these cimports
# let its annotations of the state classes compile to direct slot access.
from .state cimport Frame, Reg, State, shared_const_reg
from .scalar cimport const_alu, scalar_alu
from .linked cimport link_after_alu
# The checker (cimported: checker.py imports this module only after its classes exist, so the
# type is there when this module's initialisation looks it up): its fields read from C slots.
from .checker cimport Checker
cimport cython

# Once per instruction before the walk: the row's fields read as C integers.
@cython.locals(code=cython.long, cls=cython.long, op=cython.long)
cpdef specialise(Checker checker, insn, general, tuple row)

# Opcode constants (plain ints in the .py): C integers while building the handlers.
cdef long _ALU, _ALU64, _JMP, _JMP32, _MOV, _X

# The fast forms: handlers (handler.py) whose `run` the walk calls through the C method table,
# their fields C slots instead of a closure's cells.
from .handler cimport Handler


cdef class FastHandler(Handler):
    cdef Checker checker
    cdef long d, s
    cdef bint logging
    cdef set scratched
    cdef Handler general


# Built once per instruction per check: the handlers' fields set by C functions, no __init__ call.
@cython.locals(mov_imm=MovImm, mov_reg=MovReg, code=cython.long, d=cython.long, is64=cython.bint)
cdef _mov(Checker checker, tuple row, Handler general)
cdef _fill(FastHandler handler, Checker checker, tuple row, Handler general)
@cython.locals(alu_imm=AluImm, alu_reg=AluReg, code=cython.long, op=cython.long, is64=cython.bint, bits=cython.long)
cdef _alu(Checker checker, tuple row, Handler general)
@cython.locals(code=cython.long)
cdef _fill_alu(AluHandler handler, Checker checker, tuple row, Handler general)
@cython.locals(handler=CondJmp, code=cython.long, pc=cython.long, is64=cython.bint, uses_reg=cython.bint)
cdef _cond_jmp(Checker checker, tuple row)
# The registers of the frame the walk is in: a C call every fast handler makes first.
@cython.locals(state=State, frame=Frame)
cdef list current_regs(Checker checker)
cpdef Reg _scalar_result(Reg dst, long op, Reg src, bint is64, bint same_reg, bint capable)


cdef class MovImm(Handler):
    cdef Checker checker
    cdef long d
    cdef bint logging
    cdef set scratched
    cdef Reg value
    @cython.locals(regs=list)
    cpdef run(self, insn)


cdef class MovReg(FastHandler):
    @cython.locals(regs=list, src=Reg)
    cpdef run(self, insn)


cdef class AluHandler(FastHandler):
    cdef long op
    cdef bint is64, capable
    cdef object mask, fn


cdef class AluImm(AluHandler):
    cdef object imm
    cdef Reg src_imm
    @cython.locals(regs=list, dst=Reg, d=cython.long)
    cpdef run(self, insn)


cdef class AluReg(AluHandler):
    @cython.locals(regs=list, dst=Reg, src=Reg, d=cython.long, s=cython.long)
    cpdef run(self, insn)


cdef class CondJmp(Handler):
    cdef Checker checker
    cdef long d, s, op, bits, fall, target, pc
    cdef bint uses_reg, is64, noted, logging
    cdef object s_or_none, imm_reg, imm, compare, observed
    cdef set scratched
    @cython.locals(regs=list, dst=Reg, src=Reg, d=cython.long, s=cython.long,
                   uses_reg=cython.bint)
    cpdef run(self, insn)
