"""BPF_PROG_LOAD: relocate a `Program` against kernel map fds and load it with its verifier log.

Relocation works on copies of the instructions (the model stays untouched), as
libbpf's `bpf_object__relocate_data` does: an ld_imm64 of a map becomes
BPF_PSEUDO_MAP_FD with the fd in imm; one into global data becomes
BPF_PSEUDO_MAP_VALUE with the fd in imm and the byte offset in the second
slot's imm; a subprogram address (callback) becomes BPF_PSEUDO_FUNC with its
immediate kept.

By default no BTF is loaded and func_info/line_info are not passed; every example
program loads that way except those the kernel only accepts with BTF: callbacks
(bpf_loop, bpf_for_each_map_elem: "missing btf func_info").  For those the load
is retried with the object's BTF (fixed up, see `btf.py`) and its func_info.
Still unsupported: line_info, map values with bpf_spin_lock/timers/kptrs (need
BTF-typed maps), and extern variables (refused here before the kernel sees them).
A kfunc call gets the running kernel's BTF id of its function, as libbpf gives it.
"""

from __future__ import annotations

import ctypes
import re
import time
from dataclasses import dataclass

from ..elf.model import Program, ProgType, RelocKind
from ..errors import XdpError
from .btf import LoadedBtf, load_btf, vmlinux_func_id
from .syscall import (
    BPF_F_XDP_HAS_FRAGS,
    BPF_PSEUDO_FUNC,
    BPF_PSEUDO_KFUNC_CALL,
    BPF_PSEUDO_MAP_FD,
    BPF_PSEUDO_MAP_VALUE,
    BpfError,
    Cmd,
    ProgInfo,
    ProgLoadAttr,
    bpf,
    close_fd,
    get_info,
    obj_name,
)

DEFAULT_LOG_SIZE = 1 << 20
MAX_LOG_SIZE = 1 << 30  # the kernel's limit is UINT_MAX >> 2
# Lines the verifier appends after the verdict (statistics), skipped when looking for the reason.
_STATS_LINE = re.compile(r"^(processed \d+ insns|verification time|stack depth|max_states_per_insn|mark_read)")
_PROCESSED = re.compile(r"processed (\d+) insns")

_PSEUDO_BY_KIND = {RelocKind.MAP: BPF_PSEUDO_MAP_FD, RelocKind.MAP_VALUE: BPF_PSEUDO_MAP_VALUE}


class KernelRejected(XdpError):
    """The kernel verifier refused the program; the message is its last log line."""

    exit_code = 1

    def __init__(self, program: str, reason: str, log: str, errno: int, load_time_ns: int = 0):
        self.reason = reason
        self.log = log
        self.errno = errno
        self.load_time_ns = load_time_ns
        super().__init__(f"kernel rejected {program}: {reason}")


def relocate(program: Program, map_fds: dict[str, int]) -> bytes:
    """The program's bytes with every map/func ld_imm64 pointed at the kernel's fds."""
    out = bytearray()
    for insn in program.insns:
        reloc = insn.reloc
        if reloc is None or reloc.kind == RelocKind.CALL:
            out += insn.encode()
            continue
        if reloc.kind in _PSEUDO_BY_KIND:
            fd = map_fds.get(reloc.map or "")
            if fd is None:
                raise XdpError(f"{program.name}: instruction {insn.pc} refers to map {reloc.map!r}, which was not created")
            imm_hi = reloc.offset if reloc.kind == RelocKind.MAP_VALUE else 0
            out += insn.copy(src=_PSEUDO_BY_KIND[reloc.kind], imm=fd, imm_hi=imm_hi).encode()
        elif reloc.kind == RelocKind.FUNC:
            out += insn.copy(src=BPF_PSEUDO_FUNC).encode()
        elif reloc.kind == RelocKind.KFUNC:  # libbpf: the kernel's BTF id, off 0 (vmlinux)
            out += insn.copy(src=BPF_PSEUDO_KFUNC_CALL, imm=vmlinux_func_id(reloc.symbol), off=0).encode()
        else:
            raise XdpError(
                f"{program.name}: instruction {insn.pc} uses {reloc.kind.value} symbol {reloc.symbol!r}; "
                "the kernel target does not resolve extern variables"
            )
    return bytes(out)


def last_log_line(log: str) -> str:
    """The verifier's reason: its last line that is not a statistics line."""
    lines = [line for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if not _STATS_LINE.match(line):
            return line.strip()
    return lines[-1].strip() if lines else ""


def processed_insns(log: str) -> int | None:
    match = _PROCESSED.search(log)
    return int(match.group(1)) if match else None


@dataclass
class LoadedProgram:
    """A program the kernel accepted: its fd, the log and what the load cost."""

    fd: int
    name: str
    log: str
    load_time_ns: int
    insn_processed: int | None

    def close(self) -> None:
        close_fd(self.fd)
        self.fd = -1

    def __enter__(self) -> "LoadedProgram":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _attempt(
    program: Program, code: bytes, prog_type: int, log_level: int, log_size: int, btf: LoadedBtf | None,
    extra: dict,
) -> tuple[int, str, int, int]:
    """One PROG_LOAD; returns (fd or -errno, log, elapsed ns, log_true_size)."""
    insns = ctypes.create_string_buffer(code, len(code))
    license = ctypes.create_string_buffer((program.license or "GPL").encode())
    logbuf = ctypes.create_string_buffer(log_size) if log_level else None
    attr = ProgLoadAttr(
        prog_type=prog_type,
        insn_cnt=len(code) // 8,
        insns=ctypes.addressof(insns),
        license=ctypes.addressof(license),
        log_level=log_level,
        log_size=log_size if log_level else 0,
        log_buf=ctypes.addressof(logbuf) if logbuf is not None else 0,
        prog_flags=(BPF_F_XDP_HAS_FRAGS if program.frags else 0) | extra.get("prog_flags", 0),
        prog_name=obj_name(program.name),
        expected_attach_type=program.attach_type,
        attach_btf_id=extra.get("attach_btf_id", 0),
    )
    if btf is not None:
        attr.prog_btf_fd = btf.fd
        attr.func_info_rec_size = 8
        attr.func_info = ctypes.addressof(btf.func_info)
        attr.func_info_cnt = btf.count
    start = time.perf_counter_ns()
    try:
        fd = bpf(Cmd.PROG_LOAD, attr)
    except BpfError as err:
        fd = -err.errno
    elapsed = time.perf_counter_ns() - start
    log = logbuf.value.decode(errors="replace") if logbuf is not None else ""
    return fd, log, elapsed, attr.log_true_size


def load_program(
    program: Program,
    map_fds: dict[str, int],
    *,
    log_level: int = 0,
    log_size: int = DEFAULT_LOG_SIZE,
    prog_type: ProgType | int | None = None,
    use_btf: bool | None = None,
    prog_flags: int = 0,
    attach_btf_id: int = 0,
) -> LoadedProgram:
    """Load `program`; on rejection raise KernelRejected with the full verifier log.

    With log_level 0 a rejected load is retried at level 1 to get the reason (as
    libbpf does); a log buffer that is too small is grown to the size the kernel
    reports (log_true_size, Linux 6.4+) or doubled.  `use_btf`: True loads the
    object's BTF with func_info, False never does, None (default) does so only
    when the kernel refuses the program for lack of it.  `prog_flags` (BPF_F_*) and
    `attach_btf_id` are passed as given (the selftests' flags; tracing programs' targets).
    """
    extra = {"prog_flags": prog_flags, "attach_btf_id": attach_btf_id}
    if use_btf is None:
        try:
            return load_program(program, map_fds, log_level=log_level, log_size=log_size, prog_type=prog_type,
                                use_btf=False, **extra)
        except KernelRejected as rejected:
            if "btf" not in rejected.reason.lower() or not program.func_info:
                raise
        use_btf = True
    btf = load_btf(program) if use_btf else None
    try:
        return _load(program, map_fds, log_level, log_size, prog_type, btf, extra)
    finally:
        if btf is not None:
            btf.close()  # the program holds its own reference


def _load(program, map_fds, log_level, log_size, prog_type, btf, extra) -> LoadedProgram:
    if log_level not in range(8):  # BPF_LOG_LEVEL1 | BPF_LOG_LEVEL2 | BPF_LOG_STATS
        raise XdpError(f"verifier log level must be 0, 1 or 2 (4 adds statistics), not {log_level}")
    code = relocate(program, map_fds)
    ptype = int(program.type if prog_type is None else prog_type)
    level = log_level
    while True:
        fd, log, elapsed, true_size = _attempt(program, code, ptype, level, log_size, btf, extra)
        if fd == -28 and level and log_size < MAX_LOG_SIZE:  # ENOSPC: log buffer too small
            log_size = min(MAX_LOG_SIZE, max(log_size * 2, true_size + 1))
            continue
        if fd < 0 and level == 0:
            level = 1  # ask for the reason
            continue
        break
    if fd < 0:
        err = -fd
        reason = last_log_line(log) or BpfError(Cmd.PROG_LOAD, err).args[0]
        raise KernelRejected(program.name, reason, log, err, elapsed)
    processed = processed_insns(log)
    if processed is None:
        try:
            processed = get_info(fd, ProgInfo).verified_insns or None
        except BpfError:
            processed = None
    return LoadedProgram(fd, program.name, log, elapsed, processed)
