"""The in-memory model of an eBPF object: what every later stage consumes.

The loader (`xdptool.elf.loader.load_object`) builds it from an ELF file; the
verifier, the engines, the kernel loader and the NFP lowering read it and never
look at ELF bytes again.  A `Program` is self-contained: its instruction list has
every BPF-to-BPF callee from `.text` appended after the entry function, local-call
immediates re-pointed at the appended copies, and a subprogram table.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ..ebpf.insn import Instruction
from ..platform.maps import PERCPU_MAP_TYPES, MapType  # noqa: F401 - re-exported: the model's vocabulary
from ..platform.programs import ProgType  # noqa: F401 - re-exported


# The model's immutable records are NamedTuples (a dataclass compiles its methods with exec at every
# start, ~0.4 ms each); those a run mutates or extends stay dataclasses.
class LineInfo(NamedTuple):
    """Where an instruction came from in the C source (BTF.ext line_info)."""

    file: str
    line: int
    col: int
    source: str  # the source line's text as recorded in BTF (may be "")

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class RelocKind(enum.Enum):
    MAP = "map"  # ld_imm64 of a map: becomes BPF_PSEUDO_MAP_FD
    MAP_VALUE = "map_value"  # ld_imm64 into global data: BPF_PSEUDO_MAP_VALUE + offset
    CALL = "call"  # BPF-to-BPF call (already resolved into the program)
    FUNC = "func"  # ld_imm64 of a subprogram address (callbacks: bpf_loop, for_each)
    KFUNC = "kfunc"  # call of an extern kernel function (unsupported offline)
    EXTERN = "extern"  # other extern symbol (kconfig, ksym)


class Reloc(NamedTuple):
    """What an instruction refers to, resolved to the model's names."""

    kind: RelocKind
    symbol: str  # the ELF symbol name
    map: str | None = None  # MAP / MAP_VALUE: name of the map in Object.maps
    offset: int = 0  # MAP_VALUE: byte offset into the map's value; FUNC/CALL: target pc


class Symbol(NamedTuple):
    """An ELF symbol as the model keeps it: names, not indexes."""

    name: str
    section: str
    value: int  # byte offset in the section
    size: int
    kind: str  # "func", "object", "label", "section", "file", "notype"
    bind: str  # "local", "global", "weak"


@dataclass
class CodeSection:
    """An executable section as it is in the file (for disasm and diagnostics)."""

    name: str
    index: int
    data: bytes
    insns: list[Instruction]  # decoded, pc = slot index in the section; reloc/line attached
    symbols: list[Symbol]  # sorted by value


@dataclass
class MapDef:
    """A map as the object declares it (BTF `.maps`, legacy `maps`, or global data)."""

    name: str
    type: MapType
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    pinning: int = 0
    numa_node: int = 0
    inner: "MapDef | None" = None  # array/hash-of-maps template
    section: str = ".maps"  # ".maps", "maps", or the global-data section name
    initial: bytes | None = None  # global data: the section's initial contents
    readonly: bool = False  # .rodata: frozen after creation (BPF_F_RDONLY_PROG)
    btf_key_type_id: int = 0
    btf_value_type_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # map_extra, values of prog arrays ...

    @property
    def type_name(self) -> str:
        return self.type.kernel_name

    @property
    def is_global_data(self) -> bool:
        return self.initial is not None

    @property
    def is_percpu(self) -> bool:
        return self.type in PERCPU_MAP_TYPES


class Subprogram(NamedTuple):
    """A BPF-to-BPF callee's slots inside its program's instruction list."""

    name: str
    start: int  # first slot (pc) inside Program.insns
    end: int  # one past the last slot
    section: str


@dataclass
class Program:
    """A loadable program: the entry function plus every subprogram it calls."""

    name: str
    section: str
    type: ProgType
    type_name: str  # libbpf's name for the section type ("xdp", "tc", "kprobe", ...)
    insns: list[Instruction]  # pc renumbered from 0; ld_imm64 take 2 slots
    subprograms: list[Subprogram]  # [0] is the entry function
    license: str
    attach_type: int = 0  # expected_attach_type (BPF_XDP = 37 for xdp programs)
    frags: bool = False  # xdp.frags: BPF_F_XDP_HAS_FRAGS
    func_info: list[tuple[int, int]] = field(default_factory=list)  # (pc, BTF type id)
    object: "Object | None" = field(default=None, repr=False)

    @property
    def slot_count(self) -> int:
        return sum(i.slots for i in self.insns)

    def insn_at(self, pc: int) -> Instruction:
        """The instruction that starts at slot `pc`."""
        index = self._pc_index().get(pc)
        if index is None:
            raise KeyError(pc)
        return self.insns[index]

    def _pc_index(self) -> dict[int, int]:
        cache = self.__dict__.get("_pc_cache")
        if cache is None or len(cache) != len(self.insns):
            cache = {insn.pc: i for i, insn in enumerate(self.insns)}
            self.__dict__["_pc_cache"] = cache
        return cache

    def subprogram_of(self, pc: int) -> Subprogram:
        for sub in self.subprograms:
            if sub.start <= pc < sub.end:
                return sub
        raise KeyError(pc)

    def referenced_maps(self) -> list[str]:
        """Names of the maps the program's ld_imm64 instructions refer to, in order."""
        seen: dict[str, None] = {}
        for insn in self.insns:
            if insn.reloc is not None and insn.reloc.map is not None:
                seen.setdefault(insn.reloc.map)
        return list(seen)


@dataclass
class Object:
    """A loaded object: its programs, maps, license and sections."""

    path: str
    programs: list[Program]
    maps: dict[str, MapDef]  # in declaration order; global data maps included
    license: str
    kern_version: int
    code_sections: list[CodeSection]
    btf: Any = None  # elf.btf.BTF (types, strings) or None
    btf_ext: Any = None  # elf.btf.BTFExt or None
    symbols: list[Symbol] = field(default_factory=list)

    def program(self, selector: str | None = None) -> Program:
        """Select by name or section; the only program when `selector` is None."""
        from ..errors import XdpError

        if selector is None:
            if len(self.programs) == 1:
                return self.programs[0]
            if not self.programs:
                raise XdpError(f"{self.path}: no programs in the object")
            names = ", ".join(p.name for p in self.programs)
            raise XdpError(f"{self.path}: several programs ({names}); choose one with -p")
        for prog in self.programs:
            if selector in (prog.name, prog.section):
                return prog
        names = ", ".join(f"{p.name} ({p.section})" for p in self.programs)
        raise XdpError(f"{self.path}: no program named {selector!r}; have {names}")
