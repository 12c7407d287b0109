"""The verifier's speed-ups change nothing: same verdicts, same logs, same statistics.

The constant fast paths (fastpath.py) are checked against the general handlers
instruction for instruction (the full log at level 2 prints every register
state at every branch), on every example program and on random programs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xdptool.elf import load_object
from xdptool.verifier import analyze, checker
from xdptool.verifier.fuzz import random_program

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p.stem for p in (ROOT / "programs").glob("*.c"))  # built by the built_examples fixture


def _general_only(monkeypatch):
    monkeypatch.setattr(checker, "specialise", lambda c, insn, general, row: general)


def _both(program, monkeypatch):
    fast = analyze(program, log_level=2, collect_facts=False)
    with monkeypatch.context() as m:
        _general_only(m)
        general = analyze(program, log_level=2, collect_facts=False)
    return fast, general


@pytest.mark.parametrize("name", EXAMPLES)
def test_fast_paths_log_exactly_what_the_general_handlers_log(name, built_examples, monkeypatch):
    program = load_object(str(built_examples[name])).program()
    fast, general = _both(program, monkeypatch)
    assert fast.log == general.log
    assert fast.accepted == general.accepted


def test_fast_paths_agree_on_random_programs(monkeypatch):
    for seed in range(60):
        fast, general = _both(random_program(seed), monkeypatch)
        assert (fast.accepted, fast.log) == (general.accepted, general.log), seed


def test_imprecise_scalars_prune_but_not_when_collecting_facts(built_examples):
    """proto_counters stores a per-protocol key it never branches on: the key does
    not keep states apart when pruning (fewer instructions), except for facts."""
    program = load_object(str(built_examples["proto_counters"])).program()
    relaxed = analyze(program, collect_facts=False)
    exact = analyze(program, collect_facts=True)
    assert relaxed.accepted and exact.accepted
    assert relaxed.processed_insns < exact.processed_insns


def _corpus_case(name: str):
    """A case of tests/verifier_corpus as a Program (cases.load_case)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("verifier_cases", ROOT / "tests" / "verifier_corpus" / "cases.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    return cases.load_case(name)


def _blind_to_branches(real):
    """Precision as if no conditional jump had been decided by values (the rest observed)."""
    from xdptool.verifier import precision

    def build(cfg, seen):
        proxy = precision.Observed()
        proxy.pointer_arith, proxy.stack_via_pointer = seen.pointer_arith, seen.stack_via_pointer
        proxy.stack_reads, proxy.news = seen.stack_reads, seen.news
        return real(cfg, proxy)

    return build


@pytest.mark.parametrize("name, blind_to", [
    ("precise_via_stack_pointer", "everything"), ("live_via_stack_pointer", "everything"),
    ("precise_via_decided_branch", "branches"), ("precise_via_linked_copy", "branches"),
])
def test_pruning_follows_what_the_walk_observed(name, blind_to, monkeypatch):
    """Without what the walk observed, the dataflow would call a scalar imprecise or a
    slot dead, and a state that the kernel rejects would be pruned: a store and a load
    through a stack pointer (an out-of-range offset, a scalar where a pointer was), a
    branch its value decided, a branch that taught a linked copy (kernel
    check_cond_jmp_op and bt_sync_linked_regs)."""
    from xdptool.verifier import precision

    program = _corpus_case(name)
    assert not analyze(program, collect_facts=False).accepted
    real = precision.Precision
    blind = (lambda cfg, seen: real(cfg, precision.Observed())) if blind_to == "everything" else _blind_to_branches(real)
    monkeypatch.setattr(precision, "Precision", blind)
    assert analyze(program, collect_facts=False).accepted  # the hazard the observations guard against


def test_a_branch_both_ways_open_leaves_its_operands_imprecise():
    """As in the kernel (backtrack_insn): a conditional jump whose sides were both feasible
    and taught no linked copy only passes precision between its operands, so the second
    path (r8 = 100 instead of 4) is pruned at the call after `a` (the kernel: `from 8 to
    10: safe`)."""
    result = analyze(_corpus_case("accept_undecided_branch"), log_level=2, collect_facts=False)
    assert result.accepted
    assert "10: safe" in result.log.splitlines()


@pytest.mark.parametrize("name", EXAMPLES)
def test_incremental_precision_equals_a_fresh_computation(name, built_examples):
    path = built_examples[name]
    """Precision.at re-propagates only from newly observed pcs; the table must be what a
    computation from scratch with everything observed gives."""
    from xdptool.verifier import precision
    from xdptool.verifier.checker import Checker
    from xdptool.verifier.profiles import get_profile

    checker = Checker(load_object(str(path)).program(), get_profile("linux"), collect_facts=False)
    seen = precision.Observed()
    checker.observed = seen
    checker.run()
    incremental = precision.Precision(checker.cfg, precision.Observed())
    incremental.seen = seen  # everything observed arrives after the first solve
    for insn in checker.insns:
        incremental.at(insn.pc)
    assert incremental.table == precision.compute(checker.cfg, seen)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_walks_own_precision_table_is_exact_where_it_was_asked(name, built_examples):
    """The walk's table grows lazily (a sweep down to the lowest pc asked about) while
    observations arrive in between; from the frontier up, once the last news are taken in,
    it must equal a computation from scratch with everything observed."""
    from xdptool.verifier import precision
    from xdptool.verifier.checker import Checker
    from xdptool.verifier.profiles import get_profile

    checker = Checker(load_object(str(built_examples[name])).program(), get_profile("linux"), collect_facts=False)
    checker.run()
    lazy = checker._precision
    if lazy is None:
        pytest.skip("no state comparison in this program")
    lazy.at(checker.cfg.rows[-1][0])  # takes in the observations made after the last comparison
    fresh = precision.compute(checker.cfg, checker.observed)
    pcs = [insn.pc for insn in checker.insns if insn.pc >= lazy.frontier]
    assert pcs and [lazy.table[pc] for pc in pcs] == [fresh[pc] for pc in pcs]


def test_a_forward_program_asked_at_its_exit_sweeps_only_the_exit(built_examples):
    """Without backward jumps, a question about the last instruction needs nothing below it."""
    from xdptool.verifier import precision
    from xdptool.verifier.cfg import build_cfg

    cfg = build_cfg(load_object(str(built_examples["encap"])).program().insns)
    assert not cfg.backward
    solver = precision.Precision(cfg, precision.Observed())
    last = cfg.rows[-1][0]
    solver.at(last)
    assert solver.frontier == last and solver.info[cfg.rows[-2][0]] is None
    solver.at(cfg.rows[0][0])
    assert solver.frontier == cfg.rows[0][0] and solver.table == precision.compute(cfg, precision.Observed())


def _quick_pairs(program):
    """(entry, other state, live, precise) for every pair of checkpoints at one pc."""
    from xdptool.verifier.checker import Checker
    from xdptool.verifier.profiles import get_profile

    checker = Checker(program, get_profile("linux"), collect_facts=False)
    try:
        checker.run()
    except Exception:
        pass
    for pc, entries in checker.done.items():
        precise = checker._precise_at(pc)
        for entry in entries:
            for other in entries:
                yield entry, other.state, checker.cfg.live_in[pc], precise


def test_hinted_miss_equals_quick_miss(built_examples):
    """The short test on a constant or packet-pointer hint is quick_miss exactly."""
    from xdptool.verifier import pruning
    from xdptool.verifier.state import RegType

    programs = [load_object(str(built_examples[name])).program() for name in ("bounded_loop", "l4_lb", "port_blocklist")]
    programs += [random_program(seed) for seed in range(40)]
    compared = misses = 0
    for program in programs:
        for entry, cur, live, precise in _quick_pairs(program):
            for hint in range(11):
                quick = pruning.quick_hint(entry.state, hint)
                if quick is None or not live >> hint & 1 or (entry.state.frames[-1].regs[hint].type is
                                                             RegType.SCALAR and not precise[0] >> hint & 1):
                    continue  # quick hints come only from first_difference: live, and precise for scalars
                expected = pruning.quick_miss(entry.state, cur, hint, live, False, precise)
                assert pruning.hinted_miss(quick, len(cur.frames), cur.frames[-1].regs[hint]) == expected
                compared += 1
                misses += expected
    assert compared > 1000 and 0 < misses < compared


def test_const_registers_have_the_bounds_of_a_constant():
    """Reg.const sets each field once; the oracle is the definition: every view is the value."""
    from hypothesis import given, strategies as st

    from xdptool.verifier.scalar import s32, s64
    from xdptool.verifier.state import Reg, RegType
    from xdptool.verifier.tnum import Tnum

    @given(st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1))
    def check(value):
        reg = Reg.const(value)
        v = value & ((1 << 64) - 1)
        assert reg.type is RegType.SCALAR and (reg.off, reg.id, reg.range, reg.map, reg.frameno, reg.mem_size) == (
            0, 0, 0, None, 0, 0)
        assert reg.var_off == Tnum.const(v) and type(reg.var_off) is Tnum
        assert (reg.smin, reg.smax, reg.umin, reg.umax) == (s64(v), s64(v), v, v)
        assert (reg.s32_min, reg.s32_max, reg.u32_min, reg.u32_max) == (s32(v), s32(v), v & 0xFFFFFFFF, v & 0xFFFFFFFF)
        assert reg.key() == Reg.const(v).key()

    check()


def test_register_keys_are_equal_exactly_when_every_field_is():
    """Reg.key (pruning.exact_key's parts): a plain scalar's shorter key and a full one, with
    their hashes made once; the oracle is every field, compared as the kernel's regs_exact."""
    from hypothesis import given, strategies as st

    from xdptool.verifier.state import T_PKT, T_SCALAR, Reg

    map_a, btf_a = object(), object()

    def fields(reg):
        return (reg.type, reg.off, reg.id, reg.range, reg.map, reg.frameno, reg.mem_size, reg.ref_obj_id,
                reg.btf_type, reg.dynptr, reg.var_off, reg.smin, reg.smax, reg.umin, reg.umax,
                reg.s32_min, reg.s32_max, reg.u32_min, reg.u32_max)

    register = st.builds(
        lambda t, off, id_, range_, map_, frameno, mem_size, ref, btf, dyn, bounds: _reg_of(
            Reg, t, off, id_, range_, map_, frameno, mem_size, ref, btf, dyn, bounds),
        st.sampled_from([T_SCALAR, T_PKT]), st.integers(0, 1), st.integers(0, 1), st.integers(0, 1),
        st.sampled_from([None, map_a]), st.integers(0, 1), st.sampled_from([0, 8]), st.integers(0, 1),
        st.sampled_from([None, btf_a]), st.sampled_from([None, (1, 2, 3)]), st.sampled_from([0, 1, None]))

    @given(register, register)
    def check(a, b):
        same = fields(a) == fields(b)
        assert (a.key() == b.key()) == same
        assert not same or hash(a.key()) == hash(b.key())

    check()


def _reg_of(Reg, t, off, id_, range_, map_, frameno, mem_size, ref, btf, dyn, bounds):
    reg = Reg.unknown() if bounds is None else Reg.const(bounds)
    reg.type, reg.off, reg.id, reg.range, reg.map, reg.frameno = t, off, id_, range_, map_, frameno
    reg.mem_size, reg.ref_obj_id, reg.btf_type, reg.dynptr = mem_size, ref, btf, dyn
    return reg


def _branch_taken_by_views(a, b, op, bits):
    """is_branch_taken written over View objects, as the kernel states it (the reference)."""
    from xdptool.ebpf.opcodes import JmpOp
    from xdptool.verifier import branches

    va, vb = a.view(bits), b.view(bits)
    if op in (JmpOp.JLT, JmpOp.JLE, JmpOp.JSLT, JmpOp.JSLE):
        return _branch_taken_by_views(b, a, branches.SWAPPED[op], bits)
    if op in (JmpOp.JEQ, JmpOp.JNE):
        if va.tnum.is_const and vb.tnum.is_const:
            equal = va.tnum.value == vb.tnum.value
        elif (va.umin > vb.umax or va.umax < vb.umin or va.smin > vb.smax or va.smax < vb.smin
              or (va.tnum.value ^ vb.tnum.value) & ~(va.tnum.mask | vb.tnum.mask)):
            equal = False
        else:
            return None
        return equal if op == JmpOp.JEQ else not equal
    if op in (JmpOp.JSET, branches.JSET_FALSE):
        if va.tnum.value & vb.tnum.value:
            result = True
        elif not ((va.tnum.value | va.tnum.mask) & (vb.tnum.value | vb.tnum.mask)):
            result = False
        else:
            return None
        return result if op == JmpOp.JSET else not result
    unsigned = op in (JmpOp.JGT, JmpOp.JGE)
    lo_a, hi_a = (va.umin, va.umax) if unsigned else (va.smin, va.smax)
    lo_b, hi_b = (vb.umin, vb.umax) if unsigned else (vb.smin, vb.smax)
    if op in (JmpOp.JGT, JmpOp.JSGT):
        return True if lo_a > hi_b else False if hi_a <= lo_b else None
    return True if lo_a >= hi_b else False if hi_a < lo_b else None


def test_branch_taken_equals_the_view_reference():
    from hypothesis import given, settings, strategies as st

    from xdptool.ebpf.opcodes import JmpOp
    from xdptool.verifier import branches
    from xdptool.verifier.state import Reg

    def reg_of(lo, hi, bits_known):
        reg = Reg.unknown()
        reg.umin, reg.umax = min(lo, hi), max(lo, hi)
        reg.var_off = reg.var_off.intersect(type(reg.var_off).const(lo & bits_known)) if bits_known else reg.var_off
        reg.sync()
        return reg

    small = st.one_of(st.integers(0, 300), st.integers(0, (1 << 64) - 1), st.integers((1 << 32) - 5, (1 << 32) + 5))
    ops = [JmpOp.JEQ, JmpOp.JNE, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JSLT,
           JmpOp.JSLE, JmpOp.JSET, branches.JSET_FALSE]

    @settings(max_examples=600, deadline=None)
    @given(small, small, small, small, st.sampled_from([0, 0xFF00, (1 << 64) - 1]), st.booleans(),
           st.sampled_from(ops), st.sampled_from([32, 64]))
    def check(a_lo, a_hi, b_lo, b_hi, known, b_const, op, bits):
        a = reg_of(a_lo, a_hi, known)
        b = Reg.const(b_lo) if b_const else reg_of(b_lo, b_hi, 0)
        if a.is_empty() or b.is_empty():
            return
        assert branches.branch_taken(a, b, op, bits) == _branch_taken_by_views(a, b, op, bits)

    check()


def test_precision_sweep_equals_the_worklist_alone(built_examples):
    """The one reverse pass (exact without backward jumps) against the plain worklist from zero."""
    from xdptool.verifier import precision
    from xdptool.verifier.cfg import build_cfg

    programs = [load_object(str(built_examples[name])).program() for name in EXAMPLES]
    programs += [random_program(seed) for seed in range(40)]
    cfgs = []
    for program in programs:
        try:
            cfgs.append(build_cfg(program.insns))
        except Exception:
            continue
    swept = [precision.compute(cfg, precision.Observed()) for cfg in cfgs]
    class WorklistOnly(precision.Precision):  # (compiled, Precision's methods cannot be patched)
        def _sweep_down_to(self, pc: int) -> None:  # the pass's result dropped: the worklist from all zeros alone
            super()._sweep_down_to(0)  # (it also describes every row)
            self.table[:] = [(0, 0, 0)] * len(self.table)
            self._solve([row[0] for row in self.rows])

    def worklist_only(cfg):
        solver = WorklistOnly(cfg, precision.Observed())
        solver.at(cfg.rows[0][0])
        return solver.table

    assert swept == [worklist_only(cfg) for cfg in cfgs]
    assert any(any(regs for regs, _, _ in table) for table in swept)
    assert any(any(live for _, _, live in table) for table in swept)  # calls of subprograms


@pytest.mark.parametrize("name", ["l4_lb", "bounded_loop", "bpf2bpf_call"])
def test_an_analysis_leaves_no_garbage_for_the_collector(name, built_examples):
    """analyze() breaks the checker's cycles (Tracker, BtfPointers): reference counting frees
    the walk's states, so no pass of the collector has to find them later."""
    import gc

    program = load_object(str(built_examples[name])).program()
    gc.collect()
    analyze(program, collect_facts=False)
    analyze(program, log_level=2)
    assert gc.collect() == 0


@pytest.mark.parametrize("name", EXAMPLES)
def test_exact_keys_change_nothing_where_no_path_can_meet_itself(name, built_examples, monkeypatch):
    """Programs without loops, callbacks, may_goto or iterators skip the exact state keys
    (infinite-loop detection); computing them anyway gives the same log and statistics."""
    program = load_object(str(built_examples[name])).program()
    default = analyze(program, log_level=2, collect_facts=False)
    monkeypatch.setattr(checker, "ALWAYS_EXACT_KEYS", True)
    exact = analyze(program, log_level=2, collect_facts=False)
    assert (default.log, default.processed_insns, default.total_states) == (exact.log, exact.processed_insns,
                                                                            exact.total_states)


class _NoTexts(dict):
    """A text cache that keeps nothing."""

    def __setitem__(self, key, value):
        pass


@pytest.mark.parametrize("name", ["l4_lb", "payload_scan", "bpf2bpf_call", "port_blocklist"])
def test_the_logs_text_cache_changes_nothing(name, built_examples, monkeypatch):
    """The log keeps each instruction's and each stored register's text for an analysis
    (registers never change once stored): the same log as formatting every time."""
    from xdptool.verifier import log

    program = load_object(str(built_examples[name])).program()
    cached = analyze(program, log_level=2, collect_facts=False).log
    monkeypatch.setattr(log, "_REG_TEXTS", _NoTexts())
    monkeypatch.setattr(log, "_INSN_TEXTS", _NoTexts())
    assert analyze(program, log_level=2, collect_facts=False).log == cached
