"""Does a program fit the NFP?  The driver's reasons, with the C line.

The decision is the verifier's `nfp` profile (xdptool/verifier/nfp_rules.py): the
kernel's rules plus the driver's, run where the kernel runs them - map creation,
nfp_verify_insn at every visited instruction, nfp_bpf_finalize, and the device
JIT's translation of what the verifier kept - against a firmware's capabilities
(platform/nfp_driver.py FIRMWARES).  After it, only the image can still refuse:
its exact size against the firmware's window (`size_reasons`).  The lowering
(lower.py) may refuse what it cannot express; those are xdptool's limits, not
the card's.  Where the verifier cannot run, `map_reasons` checks the maps.
Every message is a row of platform/nfp_driver.py RULES; `detail` says in our
words what the driver's line refers to (a map's name, why a translation failed).
"""

from __future__ import annotations


from ..elf.model import Program
from ..diagnostic import Located
from ..platform import nfp_driver as driver


class Reason(Located):
    """Why the card refuses the program: the driver's message (or ours, labelled so)."""

    FIELDS = (*Located.FIELDS, "detail")

    def __init__(self, message: str, insn: int | None = None, file: str | None = None, line: int | None = None,
                 source: str | None = None, detail: str | None = None):
        super().__init__(message, insn, file, line, source)
        self.detail = detail  # ours: what the driver's message refers to

    def __str__(self) -> str:
        where = f"insn {self.insn}: " if self.insn is not None else ""
        source = f" ({self.file}:{self.line}: {self.source})" if self.file else ""
        detail = f" [{self.detail}]" if self.detail else ""
        return f"{where}{self.message}{detail}{source}"


def map_reasons(program: Program, firmware=None) -> list[Reason]:
    """nfp_bpf_map_alloc's refusals of the maps the program uses, in the object's order."""
    obj = program.object
    maps = obj.maps if obj is not None else {}
    used = set(program.referenced_maps())
    refused = driver.map_refusals([m for n, m in maps.items() if n in used], driver.firmware_named(firmware))
    return [Reason(message, detail=f"map {name}") for name, message in refused]


def verifier_reasons(program: Program, firmware=None) -> tuple[list[Reason], dict | None]:
    """The nfp profile's verdict and per-pc facts; our own map checks when the verifier is unavailable."""
    try:
        from ..verifier import analyze, get_profile
    except ImportError:
        return map_reasons(program, firmware), None
    result = analyze(program, get_profile("nfp", firmware=firmware), collect_facts=True)
    if result.accepted:
        return [], result.facts
    error = result.error
    detail = "\n".join(error.message.splitlines()[1:]) or None
    return [Reason(error.first_line, error.insn, error.file, error.line, error.source, detail)], None


def size_reasons(count: int, firmware=None) -> list[Reason]:
    """The image against the firmware's window (jit.c nfp_prog_push stops at NFP_NET_CFG_BPF_MAX_LEN)."""
    window = driver.firmware_named(firmware).max_insns
    if count > window:
        return [Reason(driver.message("jit_window", fw=window), detail=f"the image has {count} NFP instructions")]
    return []
