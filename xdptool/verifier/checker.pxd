# Class layout for the Cython build (setup.py, native.py): the .py is the source;
# this only makes its classes extension types with C slots for their attributes
# (and, with the cimports, lets annotations of the state classes compile to slot access).
from .state cimport Frame, Reg, StackSlot, State

cdef class Entry:
    cdef public object state, pc, parent, key, hint, quick, marks, hist
    cdef public long branches, hits, misses
    cdef public bint loose


cdef class Checker:
    cdef public object program, attach, profile, maps, insns, cfg, lines, stack_depth, facts, done, active, pending
    cdef public State state
    cdef public object head, scratched, scratched_slots, last_checkpoint, prev_line, observed, _precision
    cdef public object global_funcs, called_globals, btf, btf_ptrs, async_subprogs, fastcall, track, hist
    cdef public long log_level, processed, total_states, peak_states, cur_states, max_states_per_insn, id_gen, jmps, pc
    cdef public bint collect_facts, relax_imprecise
