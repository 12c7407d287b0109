# Types for the Cython build (setup.py, native.py): the .py is the source; these
# declarations give the per-instruction passes C integers for the fields of a row.
cimport cython


cdef class Cfg:
    cdef public object insns, subprog_starts, callback_calls, may_gotos, iter_nexts, targets, helper_args
    cdef public object visit_errors, calls, fp_spills, _preds
    cdef public list rows, live_in, backward
    cdef public dict by_pc, succ
    cdef public set prune_points, loop_heads

    @cython.locals(preds=dict, pc=cython.long, nxt=list, s=cython.long)
    cpdef dict predecessors(self)


@cython.locals(op=cython.long, cls=cython.long, width=cython.long, index=cython.Py_ssize_t, rule=tuple,
               zero=cython.long, reg=cython.long, listed=tuple, nonzero=cython.long, not_reg=cython.long)
cpdef check_insn_fields(long pc, long code, long dst, long src, long off, long imm, insn)


@cython.locals(at=cython.Py_ssize_t, value=cython.long)
cpdef bint _listed_ok(tuple listed, long dst, long src, long off, long imm) except -1


@cython.locals(pc=cython.long, code=cython.long, dst=cython.long, src=cython.long, off=cython.long, imm=cython.long,
               op=cython.long, cls=cython.long, target=cython.long, rows=list, by_pc=dict, visit_errors=dict,
               succ=dict, branches=dict, starts=set, calls=list, fp_spills=list)
cpdef tuple _read_insns(list insns, long end)


@cython.locals(pc=cython.long, code=cython.long, count=cython.Py_ssize_t, i=cython.Py_ssize_t, sub=cython.Py_ssize_t,
               subs=cython.Py_ssize_t, first=cython.long, stop=cython.long, row=tuple, bounds=list)
cpdef _check_subprogs(list rows, dict branches, list subprog_starts, long end)


@cython.locals(pc=cython.long, code=cython.long, src=cython.long, imm=cython.long, cls=cython.long,
               prune_points=set)
cpdef _mark_prune_points(Cfg cfg, dict branches)


@cython.locals(packed=cython.long)
cpdef tuple _reads_writes(Cfg cfg, tuple row)


@cython.locals(shape=cython.long, dst_no=cython.long, src_no=cython.long, dst=cython.long, src=cython.long,
               reads=cython.long, writes=cython.long, shift=cython.long)
cpdef long _reads_writes_packed(Cfg cfg, tuple row) except? -1


@cython.locals(pc=cython.long, gen=cython.long, keep=cython.long, out=cython.long, s=cython.long, live_in=list,
               backward=list, nxt=list, packed=cython.long, succ=dict, shift=cython.long,
               mask=cython.long, i=cython.Py_ssize_t, top=cython.Py_ssize_t, packs=list, new=cython.long,
               changed=cython.bint, rows=list)
cpdef _liveness(Cfg cfg)


@cython.locals(size=cython.Py_ssize_t, pc=cython.long, code=cython.long, src=cython.long, imm=cython.long,
               entry=cython.long, i=cython.Py_ssize_t, target=cython.long, is_call=cython.bint, state=cython.long,
               edges=list, color=list, stack=list, positions=list, out=list, by_pc=dict, rows=list)
cpdef _walk(Cfg cfg, bint allow_loops)


# Opcode constants (plain ints in the .py): C integers, so the per-instruction passes compare
# and mask a row's code without boxing it and looking a module global up.
cdef long _CALL, _EXIT, _GOTOL, _ALU, _ALU64, _X, _JA, _EXIT_OP, _CALL_OP, _LD_IMM64, _PSEUDO_FUNC, _MAY_GOTO, _JMP, _JMP32
cdef long _STX_DW, _MOV64_X, _OP_DIV, _OP_MOD, _OP_LSH, _OP_RSH, _OP_ARSH
# A row's field indices, check_insn_fields' field bits and the packed shapes' bits: C integers.
cdef Py_ssize_t _PC_AT, _CODE_AT, _DST_AT, _SRC_AT, _OFF_AT, _IMM_AT
cdef long _LAST_REG, _BIT_DST, _BIT_SRC, _BIT_OFF, _BIT_IMM
cdef long _WRITES_SHIFT, _MASK, _DST_READ, _SRC_READ, _DST_WRITTEN, _SRC_WRITTEN
