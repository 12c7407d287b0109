"""The in-memory model of an eBPF object: what every later stage consumes.

The loader (`xdptool.elf.loader.load_object`) builds it from an ELF file; the
verifier, the engines, the kernel loader and the NFP lowering read it and never
look at ELF bytes again.  A `Program` is self-contained: its instruction list has
every BPF-to-BPF callee from `.text` appended after the entry function, local-call
immediates re-pointed at the appended copies, and a subprogram table.
"""


import enum
from typing import Any, NamedTuple

from ..ebpf.insn import Instruction
from ..record import Record
from ..platform.maps import PERCPU_MAP_TYPES, MapType  # noqa: F401 - re-exported: the model's vocabulary
from ..platform.programs import ProgType  # noqa: F401 - re-exported


# The model's immutable records are NamedTuples, the mutable ones Records (record.py: no
# dataclass, which compiles its methods with exec at every start of every command).
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


class CodeSection(Record):
    """An executable section as it is in the file (for disasm and diagnostics)."""

    FIELDS = ("name", "index", "data", "insns", "symbols")

    def __init__(self, name: str, index: int, data: bytes, insns: list[Instruction], symbols: list[Symbol]):
        self.name = name
        self.index = index
        self.data = data
        self.insns = insns  # decoded, pc = slot index in the section; reloc/line attached
        self.symbols = symbols  # sorted by value


class MapDef(Record):
    """A map as the object declares it (BTF `.maps`, legacy `maps`, or global data)."""

    FIELDS = ("name", "type", "key_size", "value_size", "max_entries", "flags", "pinning", "numa_node", "inner",
              "section", "initial", "readonly", "btf_key_type_id", "btf_value_type_id", "extra")

    def __init__(self, name: str, type: MapType, key_size: int, value_size: int, max_entries: int, flags: int = 0,
                 pinning: int = 0, numa_node: int = 0, inner: "MapDef | None" = None, section: str = ".maps",
                 initial: bytes | None = None, readonly: bool = False, btf_key_type_id: int = 0,
                 btf_value_type_id: int = 0, extra: dict[str, Any] | None = None):
        self.name = name
        self.type = type
        self.key_size = key_size
        self.value_size = value_size
        self.max_entries = max_entries
        self.flags = flags
        self.pinning = pinning
        self.numa_node = numa_node
        self.inner = inner  # array/hash-of-maps template
        self.section = section  # ".maps", "maps", or the global-data section name
        self.initial = initial  # global data: the section's initial contents
        self.readonly = readonly  # .rodata: frozen after creation (BPF_F_RDONLY_PROG)
        self.btf_key_type_id = btf_key_type_id
        self.btf_value_type_id = btf_value_type_id
        self.extra: dict[str, Any] = {} if extra is None else extra  # map_extra, values of prog arrays ...

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


class Program(Record):
    """A loadable program: the entry function plus every subprogram it calls (engines keep
    what they derive from it in its __dict__: `_pc_cache`, `_jit_cache`)."""

    FIELDS = ("name", "section", "type", "type_name", "insns", "subprograms", "license", "attach_type", "frags",
              "func_info", "object")
    HIDDEN = ("object",)

    def __init__(self, name: str, section: str, type: ProgType, type_name: str, insns: list[Instruction],
                 subprograms: list[Subprogram], license: str, attach_type: int = 0, frags: bool = False,
                 func_info: list[tuple[int, int]] | None = None, object: "Object | None" = None):
        self.name = name
        self.section = section
        self.type = type
        self.type_name = type_name  # libbpf's name for the section type ("xdp", "tc", "kprobe", ...)
        self.insns = insns  # pc renumbered from 0; ld_imm64 take 2 slots
        self.subprograms = subprograms  # [0] is the entry function
        self.license = license
        self.attach_type = attach_type  # expected_attach_type (BPF_XDP = 37 for xdp programs)
        self.frags = frags  # xdp.frags: BPF_F_XDP_HAS_FRAGS
        self.func_info: list[tuple[int, int]] = [] if func_info is None else func_info  # (pc, BTF type id)
        self.object = object

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


class Object(Record):
    """A loaded object: its programs, maps, license and sections."""

    FIELDS = ("path", "programs", "maps", "license", "kern_version", "code_sections", "btf", "btf_ext", "symbols")

    def __init__(self, path: str, programs: list[Program], maps: dict[str, MapDef], license: str, kern_version: int,
                 code_sections: list[CodeSection], btf: Any = None, btf_ext: Any = None,
                 symbols: list[Symbol] | None = None):
        self.path = path
        self.programs = programs
        self.maps = maps  # in declaration order; global data maps included
        self.license = license
        self.kern_version = kern_version
        self.code_sections = code_sections
        self.btf = btf  # elf.btf.BTF (types, strings) or None
        self.btf_ext = btf_ext  # elf.btf.BTFExt or None
        self.symbols: list[Symbol] = [] if symbols is None else symbols

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
