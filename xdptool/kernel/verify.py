"""`verify_with_kernel`: ask the kernel's verifier about a program, with its log and timing.

The object's maps are created (the verifier needs real map fds to check map
accesses), the program loaded with the requested log level, and everything closed
again.  `load_time_ns` is the wall time of the accepting/rejecting PROG_LOAD call
alone, so benchmarks can put xdptool's verifier next to the kernel's.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..elf.model import Program
from .load import DEFAULT_LOG_SIZE, KernelRejected, load_program, processed_insns
from .maps import KernelMaps
from .probe import require_kernel


@dataclass
class KernelVerdict:
    accepted: bool
    log: str
    last_line: str  # the reason on rejection, the statistics line on acceptance
    insn_processed: int | None
    load_time_ns: int


def program_maps(program: Program) -> dict:
    """The map definitions to create for a program: its object's, else none."""
    return dict(program.object.maps) if program.object is not None else {}


def verify_with_kernel(program: Program, log_level: int = 1, log_size: int = DEFAULT_LOG_SIZE) -> KernelVerdict:
    """Load `program` into the kernel once and report what the verifier said."""
    require_kernel()
    with KernelMaps(program_maps(program), program.object) as kmaps:
        try:
            loaded = load_program(program, kmaps.fds(), log_level=log_level, log_size=log_size)
        except KernelRejected as rejected:
            return KernelVerdict(False, rejected.log, rejected.reason, processed_insns(rejected.log), rejected.load_time_ns)
        with loaded:
            lines = loaded.log.strip().splitlines()
            last = lines[-1] if lines else ""
            return KernelVerdict(True, loaded.log, last, loaded.insn_processed, loaded.load_time_ns)
