"""The verifier corpus: small C and assembly programs with the kernel's recorded verdicts.

`expected.json` maps each case name to its class, the profile it is checked
under, and what the kernel said (`kernel`: accepted, the error block, its first
line); cases the running kernel cannot judge (unprivileged loads are disabled
on the recording machine) carry the message from kernel/bpf/verifier.c instead
and `"recorded": false`.  `python tests/verifier_corpus/cases.py` rebuilds the
objects and re-records the kernel's answers (needs clang and CAP_BPF).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
MANIFEST = HERE / "expected.json"

# Unprivileged cases: the kernel here refuses unprivileged bpf() altogether, so the
# message is the one kernel/bpf/verifier.c prints for an unprivileged load.
UNPRIVILEGED = {
    "pointer_leak_unprivileged": ("pointer leak", "R0 leaks addr as return value"),
    "back_edge_unprivileged": ("back-edge", "back-edge from insn 2 to 1"),
}

CLASSES = {
    "pkt_no_bound": "missing packet bound", "pkt_off_by_one": "off-by-one packet bound",
    "pkt_wrong_branch": "packet bound on the wrong branch", "pkt_stale_after_adjust_head": "stale packet pointer after adjust_head",
    "pkt_var_offset_unchecked": "variable packet offset unchecked", "map_value_unchecked": "unchecked map value",
    "map_or_null_arith": "arithmetic on map_value_or_null", "map_value_var_oob": "variable-offset map value out of bounds",
    "map_value_unbounded": "unbounded map value offset", "map_value_const_oob": "constant map value offset out of bounds",
    "helper_not_for_xdp": "helper not allowed for XDP", "redirect_map_on_hash": "wrong map type for a helper",
    "tail_call_on_array": "wrong map type for a helper", "helper_gpl_only": "GPL-only helper",
    "helper_stack_too_small": "helper memory out of stack bounds", "helper_size_unbounded": "helper read size beyond the stack",
    "array_const_key_needs_null_check": "unchecked map value", "pkt_var_offset_after_check": "packet range lost by variable offset",
    "rodata_write": "write into read-only map", "call_stack_too_deep": "call depth", "combined_stack_too_large": "combined stack size",
    "uninit_register": "uninitialised register", "uninit_r0_at_exit": "uninitialised R0 at exit",
    "uninit_after_call": "argument registers clobbered by a call", "stack_out_of_bounds": "stack out of bounds",
    "stack_above_frame": "stack out of bounds", "stack_misaligned": "misaligned stack access",
    "spill_partial_pointer": "partial pointer spill", "fill_partial_pointer": "partial pointer fill",
    "ctx_write": "ctx write", "ctx_egress_ifindex": "ctx field not for XDP", "ctx_narrow_load": "narrow ctx load",
    "ctx_modified_pointer": "modified ctx pointer", "helper_arg_scalar_for_map": "wrong helper argument type",
    "helper_arg_ctx_for_key": "wrong helper argument type", "helper_invalid_id": "unknown helper",
    "infinite_loop": "infinite loop", "too_many_jumps": "too complex (jump sequence)", "too_many_insns": "too complex (1M insns)",
    "ptr_mul_prohibited": "prohibited pointer arithmetic", "ptr_bitwise_prohibited": "prohibited pointer arithmetic",
    "ptr_32bit_arith": "prohibited pointer arithmetic", "pkt_end_arith": "pkt_end arithmetic",
    "ptr_unbounded_min": "pointer plus unbounded scalar", "scalar_minus_pointer": "prohibited pointer arithmetic",
    "invalid_shift": "invalid shift", "invalid_shift32": "invalid shift", "div_by_zero_imm": "division by immediate zero",
    "mod_by_zero_imm": "division by immediate zero", "unreachable_insn": "unreachable instruction",
    "jump_out_of_range": "jump out of range", "last_insn_not_exit": "last instruction not exit",
    "frame_pointer_write": "frame pointer write", "scalar_deref": "scalar dereference", "ld_abs_in_xdp": "legacy packet load",
    "atomic_on_ctx": "atomic on ctx", "pointer_leak_unprivileged": "pointer leak (unprivileged)",
    "back_edge_unprivileged": "back-edge (unprivileged)",
    # found by scripts/kernel_selftests.py (verifier_spill_fill.c), recorded from the live kernel
    "spill_narrow_clears_id": "narrowing spill keeps a scalar id", "wide_fill_of_narrow_spill": "wide fill of a narrow spill",
    "loop_dead_counter": "too complex (loop never converges)",
    # pruning with imprecise scalars (precision.py) must keep these apart
    "precise_pointer_offset": "precise scalar (pointer offset)", "precise_via_stack": "precise scalar (through a spill)",
    "precise_via_stack_pointer": "precise scalar (through a stack pointer)",
    # ... and conditional jumps where values decided something (precision.py, value branches)
    "precise_via_decided_branch": "precise scalar (a branch its value decided)",
    "precise_via_linked_copy": "precise scalar (a branch that taught a linked copy)",
    "accept_undecided_branch": "imprecise operands of a branch open both ways (pruned as the kernel does)",
    # a packet pointer compared with 0: not known non-NULL (kernel reg_not_null), both sides walked
    "pkt_pointer_null_side": "packet pointer compared with 0",
    # pruning with dead stack slots (precision.py, stack liveness) must keep this apart
    "live_via_stack_pointer": "live stack slot (read through a stack pointer)",
    # may_goto (cond_break): a packet walk it alone bounds never converges
    "may_goto_pkt_walk": "too complex (may_goto loop over packet offsets)",
    # false accepts found by scripts/kernel_selftests.py (issue 16), recorded from the live kernel
    "map_rdonly_prog_write": "write into a BPF_F_RDONLY_PROG map", "map_rdonly_prog_update": "update of a BPF_F_RDONLY_PROG map",
    "map_wronly_prog_read": "read from a BPF_F_WRONLY_PROG map",
    "map_wronly_prog_helper_read": "a BPF_F_WRONLY_PROG value read by a helper",
    "atomic_map_misaligned": "misaligned atomic on a map value", "ctx_ldsx_data": "sign-extending load of a ctx pointer",
    "fp_subtract_const": "subtraction from the frame pointer",
    # global functions: checked on their own from their BTF prototype (loaded with BTF, as libbpf does)
    "global_arg_unchecked": "global function argument used without a NULL check",
    "global_arg_ctx_as_mem": "global function given the ctx for memory",
    "global_arg_nonnull_gets_null": "global function arg:nonnull given a maybe-NULL pointer",
    "global_arg_void_ptr": "global function with a void * argument",
    "global_arg_uninit_ctx": "global function ctx argument left uninitialised",
    # reference tracking (sockets, ring buffer records): acquire, release, leaks, use after release
    "sk_unreleased": "unreleased reference", "sk_leak_one_branch": "unreleased reference (on one path)",
    "sk_use_after_release": "use after release", "sk_release_unchecked": "release before the NULL check",
    "sk_write": "write into a socket", "sk_bad_field": "socket field access", "skc_hidden_field": "socket field access",
    "sk_tail_call_leak": "tail call holding a reference", "sk_double_release": "double release",
    "ringbuf_unreleased": "unreleased reference", "ringbuf_oob": "ring buffer record out of bounds",
    "ringbuf_submit_unchecked": "release before the NULL check", "ringbuf_submit_offset": "release of a moved pointer",
    "ringbuf_use_after_submit": "use after release", "ringbuf_var_size": "ring buffer reservation of unknown size",
    # found by scripts/kernel_selftests.py with every case loaded as XDP (issue 16), recorded from the live kernel
    "sockmap_lookup_leak": "unreleased reference (a sockmap lookup)", "sockmap_update_value": "wrong helper argument type",
    "xskmap_write": "write into an xdp_sock", "global_arg_ctx_wrong_type": "global function arg:ctx of another type",
    "loop_iter_limit_overflow": "bpf_loop iteration limit (map value out of bounds)",
    # spin locks (process_spin_lock, the held-lock rules of do_check, check_map_access's special fields)
    "spin_lock_call_held": "helper call holding a spin lock", "spin_lock_exit_held": "exit holding a spin lock",
    "spin_lock_global_call_held": "global function call holding a spin lock",
    "spin_unlock_without_lock": "unlock without a lock", "spin_unlock_different": "unlock of another lock",
    "spin_lock_direct_store": "store into a bpf_spin_lock", "spin_lock_helper_reads_lock": "helper reading a bpf_spin_lock",
    "spin_lock_wrong_offset": "spin lock at the wrong offset", "spin_lock_no_lock_field": "map value without a spin lock",
    "spin_lock_var_offset": "spin lock at a variable offset", "spin_lock_on_stack": "spin lock not in a map value",
    "timer_direct_read": "load from a bpf_timer",
    # array lookups with a constant key (get_constant_map_key, Linux 6.14+): non-NULL when in range
    "array_const_key_out_of_range": "unchecked map value (constant key out of range)",
    "array_const_key_wide_spill": "unchecked map value (key spilled wider than the key)",
    "hash_const_key": "unchecked map value (a hash lookup)", "array_variable_key": "unchecked map value (variable key)",
    "array_const_key_pruned": "precise constant key (pruning)",
    "inner_map_flag_const_key": "unchecked map value (BPF_F_INNER_MAP template)",
    "kfunc_sleepable": "sleepable kfunc", "kfunc_cpumask_not_for_xdp": "kfunc not for XDP", "spin_lock_map_without_btf": "spin lock in a map without BTF",
    # callbacks (callbacks.py): timers, bpf_for_each_map_elem, bpf_user_ringbuf_drain, callbacks' stack
    "timer_callback_returns_one": "async callback return value", "timer_callback_value_oob": "timer callback value out of bounds",
    "timer_wrong_offset": "timer at the wrong offset", "timer_other_map": "timer initialised with another map",
    "timer_no_timer_field": "map value without a timer", "for_each_write_key": "write into a callback's map key",
    "for_each_returns_two": "callback return value", "for_each_context_not_stack": "callback context not on the stack",
    "for_each_lpm_trie": "map without for_each callbacks", "user_ringbuf_dynptr_deref": "load through a dynptr",
    "loop_callback_stack_too_large": "combined stack size (a callback's stack)", "loop_callback_global": "global function as a callback",
    # bpf_fastcall (fastcall.py) and the 16-byte rounding of each frame's stack
    "fastcall_contract_broken": "combined stack size (fastcall contract broken)",
    "fastcall_not_inlined": "combined stack size (fastcall pattern around a helper not inlined)",
    "combined_stack_rounded": "combined stack size (16-byte rounding)",
    # loads through a map pointer (map_fields.py); what depends on the kernel's BTF is in tests/data/verifier/btf_ptr.c
    "map_ptr_write": "store through a map pointer",
    # arenas: XDP may not call their kfuncs (live 6.18), and addr_space_cast needs an arena map
    "addr_space_cast_no_arena": "addr_space_cast without an arena", "arena_alloc_not_for_xdp": "kfunc not for XDP",
    # linked scalars with a delta (r1 = r0; r1 += K: BPF_ADD_CONST, linked.py)
    "add_const_delta_oob": "linked scalar with a delta out of bounds",
    "add_const_pruned_delta": "linked scalar with another delta (pruning)",
}
# Cases loaded with the object's BTF and func_info, as libbpf loads them (global functions are
# only global to a kernel that sees their BTF linkage); the others load without BTF.
WITH_BTF = {"global_arg_unchecked", "accept_global_args_checked", "global_arg_ctx_as_mem",
            "global_arg_nonnull_gets_null", "global_arg_void_ptr", "global_arg_uninit_ctx", "global_arg_ctx_wrong_type",
            "accept_loop_iter_limit", "loop_iter_limit_overflow", "spin_lock_global_call_held",
            "accept_timer", "timer_callback_returns_one", "timer_callback_value_oob", "timer_wrong_offset",
            "timer_other_map", "timer_no_timer_field", "accept_for_each_sum", "for_each_write_key", "for_each_returns_two",
            "for_each_context_not_stack", "for_each_lpm_trie", "accept_user_ringbuf_drain", "user_ringbuf_dynptr_deref",
            "loop_callback_stack_too_large", "loop_callback_global", "accept_fastcall_stack", "fastcall_contract_broken",
            "fastcall_not_inlined", "combined_stack_rounded", "map_ptr_write",
            "addr_space_cast_no_arena", "arena_alloc_not_for_xdp"}
# (accept_may_goto_subprog_sum: collecting facts keeps every value exact and has no path-sensitive
# precision, so the subprogram's sum is never widened and its loop runs to the limit there)
SLOW = {"too_many_insns", "loop_dead_counter", "may_goto_pkt_walk", "accept_may_goto_subprog_sum"}

_INSN_LINE = re.compile(r"^(\d+: \(|; |from \d+ to \d+|\d+: R\d|\d+: safe|Live regs|\s+\d+: [.0-9]{10} )")
_STATS = re.compile(r"^(verification time|stack depth|processed \d+ insns|func#\d+ @\d+$)")


def names() -> list[str]:
    return sorted(p.stem for p in HERE.iterdir() if p.suffix in (".c", ".s"))


def is_accept_case(name: str) -> bool:
    return name.startswith("accept_")


def profile_of(name: str) -> tuple[str, bool]:
    return ("linux", name in UNPRIVILEGED)


def build(name: str) -> Path:
    src, obj = HERE / f"{name}.c", HERE / f"{name}.o"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu",
                    "-c", str(src), "-o", str(obj)], check=True)
    return obj


def load_case(name: str):
    """The case as a Program: C from its committed object, assembly assembled."""
    asm = HERE / f"{name}.s"
    if asm.exists():
        from xdptool.ebpf.asm import assemble
        from xdptool.ebpf.insn import renumber
        from xdptool.elf.model import Object, Program, ProgType, Subprogram

        insns = renumber(assemble(asm.read_text()))
        end = insns[-1].pc + insns[-1].slots
        prog = Program(name, "xdp", ProgType.XDP, "xdp", insns, [Subprogram(name, 0, end, "xdp")], "GPL", attach_type=37)
        prog.object = Object(str(asm), [prog], {}, "GPL", 0, [])
        return prog
    from xdptool.elf import load_object

    return load_object(str(HERE / f"{name}.o")).program()


def error_block(log: str) -> list[str]:
    """The kernel's error lines: after the last instruction/state line, before the statistics."""
    log = re.sub(r"(?<!\n)(processed \d+ insns)", r"\n\1", log)
    lines = [l for l in log.splitlines() if l.strip()]
    stats = [i for i, l in enumerate(lines) if _STATS.match(l)]
    end = next((i for i in stats if not lines[i].startswith("func#")), len(lines))
    start = 0
    for i in range(end):
        if _INSN_LINE.match(lines[i]) or lines[i].startswith("func#"):
            start = i + 1
    block = [l for l in lines[start:end] if not _STATS.match(l)]
    return block


_NUM = re.compile(r"-?(0x[0-9a-f]+|\d+)")


def normalise(message: str) -> str:
    """Messages compare modulo register numbers and numbers."""
    return _NUM.sub("#", message.strip())


def ask_kernel(name: str) -> tuple[bool, str]:
    """The live kernel's (verdict, log) for a case, loaded with BTF for the WITH_BTF cases."""
    from xdptool.kernel import verify_with_kernel

    program = load_case(name)
    if name not in WITH_BTF:
        verdict = verify_with_kernel(program, log_level=1, log_size=1 << 26)
        return verdict.accepted, verdict.log
    from xdptool.kernel.load import KernelRejected, load_program
    from xdptool.kernel.maps import KernelMaps
    from xdptool.kernel.verify import program_maps

    with KernelMaps(program_maps(program), program.object) as kmaps:
        try:
            with load_program(program, kmaps.fds(), log_level=1, log_size=1 << 26, use_btf=True) as loaded:
                return True, loaded.log
        except KernelRejected as rejected:
            return False, rejected.log


def record(only: list[str] | None = None) -> None:
    """Re-record the kernel's answers: every case, or only the named ones (kept with the others)."""
    manifest = json.loads(MANIFEST.read_text()) if only else {}
    for name in only or names():
        if (HERE / f"{name}.c").exists():
            build(name)
        entry = {"class": CLASSES.get(name, "accept" if is_accept_case(name) else "?"),
                 "profile": "unprivileged" if name in UNPRIVILEGED else "linux"}
        if name in UNPRIVILEGED:
            entry["kernel"] = {"accepted": False, "message": UNPRIVILEGED[name][1], "block": [UNPRIVILEGED[name][1]],
                               "recorded": False}
        else:
            accepted, log = ask_kernel(name)
            block = [] if accepted else error_block(log)
            entry["kernel"] = {"accepted": accepted, "message": block[0] if block else None, "block": block,
                               "recorded": True}
        manifest[name] = entry
        print(name, entry["kernel"]["accepted"], entry["kernel"]["message"], file=sys.stderr)
    MANIFEST.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    record(sys.argv[1:] or None)
