"""Load an eBPF ELF object into the model (`xdptool.elf.model`).

What libbpf does before BPF_PROG_LOAD, done offline: find the programs (one per
global function in a program section), the maps (BTF-defined `.maps`, legacy
`maps`, global data), resolve every relocation to a model name, append each
program's BPF-to-BPF callees and attach BTF line info.  The rules follow libbpf
(tools/lib/bpf/libbpf.c: bpf_object__add_programs, bpf_program__record_reloc,
bpf_object__reloc_code, parse_btf_map_def); the code is our own.

Every malformed input raises `ObjectFormatError` naming the file and the problem;
struct and decoding errors are translated at the single entry point.  The ELF
level (section headers, names, symbols) is read here with struct, after the
ELF-64 gABI (System V ABI, "Sections" and "Symbol Table"): an object needs no
more, and pyelftools cost every command ~20 ms of start-up.
"""


import os
import struct
from bisect import bisect_right
from typing import Any, NamedTuple

from ..ebpf.insn import Instruction, decode, renumber
from ..ebpf.opcodes import CallSrc, PseudoSrc
from ..errors import DecodeError, ObjectFormatError, XdpError
from .btf import BTF, BTFExt, Kind
from .model import (
    CodeSection,
    LineInfo,
    MapDef,
    MapType,
    Object,
    Program,
    Reloc,
    RelocKind,
    Subprogram,
    Symbol,
)
from .sections import program_def

EM_BPF = 247
MACHINE_NAMES = {0: "none", 3: "i386", 8: "MIPS", 20: "PowerPC", 21: "PowerPC64", 22: "s390",
                 40: "ARM", 62: "x86-64", 183: "AArch64", 243: "RISC-V", 258: "LoongArch"}  # fmt: skip
SHF_EXECINSTR = 0x4
SHN_UNDEF, SHN_LORESERVE = 0, 0xFF00
SLOT = 8

# ELF relocation types for BPF (llvm/BinaryFormat/ELFRelocs/BPF.def).
RELOC_TYPES = {0: "R_BPF_NONE", 1: "R_BPF_64_64", 2: "R_BPF_64_ABS64", 3: "R_BPF_64_ABS32",
               4: "R_BPF_64_NODYLD32", 10: "R_BPF_64_32"}  # fmt: skip

# struct bpf_map_def (legacy `maps` section): type, key_size, value_size, max_entries, map_flags.
LEGACY_MAP_DEF = struct.Struct("IIIII")
# __uint(...) fields of a BTF map definition -> MapDef attribute (None: kept in extra).
BTF_MAP_INT_FIELDS = {"type": "type", "max_entries": "max_entries", "map_flags": "flags",
                      "numa_node": "numa_node", "pinning": "pinning", "key_size": "key_size",
                      "value_size": "value_size", "map_extra": None}  # fmt: skip
MAP_IN_MAP_TYPES = {MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS}
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
BTF_VAR_STATIC = 0
ARENA_DATA_SECTION = ".addr_space.1"  # globals declared __arena: the arena map's initial pages (libbpf)
ARENA_PAGE = 4096  # libbpf lays the arena's data out in pages (sysconf(_SC_PAGE_SIZE) on x86-64)
MAX_NOBITS_SIZE = 64 << 20  # the kernel caps array values far lower (KMALLOC_MAX_SIZE)

SYMBOL_KINDS = {"STT_FUNC": "func", "STT_OBJECT": "object", "STT_SECTION": "section", "STT_FILE": "file"}
SYMBOL_BINDS = {"STB_LOCAL": "local", "STB_GLOBAL": "global", "STB_WEAK": "weak"}

# The ELF-64 records read (gABI): Elf64_Shdr and Elf64_Sym, field names as the gABI's.
SECTION_HEADER = ("IIQQQQIIQQ", ("sh_name", "sh_type", "sh_flags", "sh_addr", "sh_offset", "sh_size", "sh_link",
                                 "sh_info", "sh_addralign", "sh_entsize"))
SYMBOL_ENTRY = "IBBHQQ"  # st_name, st_info, st_other, st_shndx, st_value, st_size
# gABI names of the values the loader tells apart; any other value stays a number.
SECTION_TYPES = {1: "SHT_PROGBITS", 2: "SHT_SYMTAB", 3: "SHT_STRTAB", 4: "SHT_RELA", 8: "SHT_NOBITS", 9: "SHT_REL"}
SYMBOL_TYPES = {0: "STT_NOTYPE", 1: "STT_OBJECT", 2: "STT_FUNC", 3: "STT_SECTION", 4: "STT_FILE"}
SYMBOL_BIND_NAMES = {0: "STB_LOCAL", 1: "STB_GLOBAL", 2: "STB_WEAK", 3: "STB_NUM", 10: "STB_LOOS", 12: "STB_HIOS",
                     13: "STB_LOPROC", 15: "STB_HIPROC"}  # fmt: skip
RELOCATION_ENTRY_SIZES = {"SHT_REL": 16, "SHT_RELA": 24}  # Elf64_Rel, Elf64_Rela
SPECIAL_SECTION_INDICES = (0xFFF1, 0xFFF2)  # SHN_ABS, SHN_COMMON: no section of the file

# Errors struct and decoding raise on malformed bytes; anything else escaping is our bug.
PARSE_ERRORS = (struct.error, UnicodeDecodeError, ValueError, IndexError, KeyError, ZeroDivisionError,
                OverflowError, EOFError)  # fmt: skip


def load_object(path: str | os.PathLike, data: bytes | None = None) -> Object:
    """Parse an eBPF ELF object (from `data` if given, else read from `path`)."""
    path = os.fspath(path)
    if data is None:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise ObjectFormatError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        return _Loader(path, bytes(data)).load()
    except (ObjectFormatError, DecodeError) as e:
        raise ObjectFormatError(f"{path}: {e}") from None
    except XdpError:
        raise
    except PARSE_ERRORS as e:
        raise ObjectFormatError(f"{path}: malformed ELF ({type(e).__name__}: {_one_line(e)})") from None


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:200]


# The loader's records are NamedTuples, not dataclasses: a dataclass compiles its methods with exec at every
# start (~0.4 ms each).
class _RawSymbol(NamedTuple):
    """A symbol-table entry as read, before it is tied to a section."""

    index: int
    name: str
    value: int
    size: int
    type: str | int  # STT_* (a number the gABI does not name)
    bind: str | int  # STB_*
    shndx: int


class _Function(NamedTuple):
    """A function's slot range [start, end) inside its code section."""

    name: str
    section: CodeSection
    start: int
    end: int
    is_global: bool

    @property
    def key(self) -> tuple[int, int]:
        return (self.section.index, self.start)


class _Section(NamedTuple):
    """A section header and its bytes, as read."""

    index: int
    name: str
    type: str | int  # SHT_* (a number the loader has no name for)
    flags: int
    data: bytes
    header: dict[str, Any]  # the Elf64_Shdr fields by their gABI names


class _Loader:
    def __init__(self, path: str, data: bytes):
        self.path = path
        self.data = data
        self.endian = self._check_header()
        self.sections = self._read_sections()
        self.by_name = {s.name: s for s in reversed(self.sections)}  # first of a name wins
        self.symbols = self._read_symbols()
        # (section index, slot) of a call/ld_imm64 -> (target section index, target slot)
        self.link_targets: dict[tuple[int, int], tuple[int, int]] = {}
        self.map_at: dict[tuple[int, int], str] = {}  # (section index, offset) -> map name

    # -- ELF level --------------------------------------------------------------
    def _check_header(self) -> str:
        data = self.data
        if data[:4] != b"\x7fELF":
            raise ObjectFormatError("not an ELF file")
        if len(data) < 64:
            raise ObjectFormatError(f"truncated ELF (file is {len(data)} bytes, header needs 64)")
        if data[4] != 2:
            raise ObjectFormatError("not an eBPF object (32-bit ELF)")
        endian = {1: "<", 2: ">"}.get(data[5])
        if endian is None:
            raise ObjectFormatError(f"bad ELF byte order {data[5]}")
        machine = struct.unpack_from(endian + "H", data, 18)[0]
        if machine != EM_BPF:
            raise ObjectFormatError(f"not an eBPF object (machine {MACHINE_NAMES.get(machine, machine)})")
        shoff = struct.unpack_from(endian + "Q", data, 40)[0]
        shentsize, shnum = struct.unpack_from(endian + "HH", data, 58)
        if shnum and shentsize != 64:
            raise ObjectFormatError(f"bad section header size {shentsize}")
        if shnum == 0 and shoff:
            raise ObjectFormatError("extended section numbering is not supported")
        if shoff + shnum * 64 > len(data):
            raise ObjectFormatError("truncated ELF (section headers run past the end of the file)")
        return endian

    def _read_sections(self) -> list[_Section]:
        data, endian = self.data, self.endian
        shoff = struct.unpack_from(endian + "Q", data, 40)[0]
        shnum, shstrndx = struct.unpack_from(endian + "HH", data, 60)
        if shoff == 0:  # gABI: no section header table
            shnum = 0
        layout, fields = struct.Struct(endian + SECTION_HEADER[0]), SECTION_HEADER[1]
        headers: list[dict[str, Any]] = [dict(zip(fields, layout.unpack_from(data, shoff + 64 * i)))
                                         for i in range(shnum)]
        if shnum and shstrndx >= shnum:
            raise ObjectFormatError(f"bad section name table index {shstrndx} ({shnum} sections)")
        names_at = headers[shstrndx]["sh_offset"] if shnum else 0
        sections = []
        for index, header in enumerate(headers):
            header["sh_type"] = SECTION_TYPES.get(header["sh_type"], header["sh_type"])
            name = _c_string(data, names_at + header["sh_name"]) if index else ""
            entry_size = RELOCATION_ENTRY_SIZES.get(header["sh_type"])
            if entry_size is not None and header["sh_entsize"] != entry_size:  # every one, used or not
                raise ObjectFormatError(f"relocation section {name}: bad entry size {header['sh_entsize']}")
            if header["sh_type"] == "SHT_NOBITS":
                section_data = b""
            else:
                if header["sh_offset"] + header["sh_size"] > len(data):
                    raise ObjectFormatError(f"truncated ELF (section {name or index} runs past the end of the file)")
                section_data = data[header["sh_offset"] : header["sh_offset"] + header["sh_size"]]
            sections.append(_Section(index, name, header["sh_type"], header["sh_flags"], section_data, header))
        return sections

    def _read_symbols(self) -> list[_RawSymbol]:
        symtabs = [s for s in self.sections if s.type == "SHT_SYMTAB"]
        if not symtabs:
            return []
        symtab = symtabs[0]
        if symtab.header["sh_entsize"] != 24:
            raise ObjectFormatError(f"bad symbol table entry size {symtab.header['sh_entsize']}")
        link = symtab.header["sh_link"]
        if not 0 < link < len(self.sections) or self.sections[link].type != "SHT_STRTAB":
            raise ObjectFormatError(f"symbol table: section {link} is not a string table")
        if len(symtab.data) % 24:
            raise ObjectFormatError(f"symbol table: size {len(symtab.data)} is not a multiple of 24")
        names_at = self.sections[link].header["sh_offset"]
        entry = struct.Struct(self.endian + SYMBOL_ENTRY)
        result = []
        for index in range(len(symtab.data) // entry.size):
            st_name, st_info, _other, shndx, value, size = entry.unpack_from(symtab.data, index * entry.size)
            if shndx in SPECIAL_SECTION_INDICES:
                shndx = SHN_LORESERVE
            kind = SYMBOL_TYPES.get(st_info & 0xF, st_info & 0xF)
            bind = SYMBOL_BIND_NAMES.get(st_info >> 4, st_info >> 4)
            name = _c_string(self.data, names_at + st_name) if st_name else ""
            if kind == "STT_SECTION" and not name and 0 < shndx < len(self.sections):
                name = self.sections[shndx].name  # as libbpf and llvm-objdump name them
            result.append(_RawSymbol(index, name, value, size, kind, bind, shndx))
        return result

    def _section_of(self, sym: _RawSymbol) -> _Section | None:
        if 0 < sym.shndx < len(self.sections):
            return self.sections[sym.shndx]
        return None

    # -- the whole object -------------------------------------------------------
    def load(self) -> Object:
        self.btf = BTF(self.by_name[".BTF"].data, self.endian) if ".BTF" in self.by_name else None
        self.btf_ext = None
        if self.btf is not None and ".BTF.ext" in self.by_name:
            self.btf_ext = BTFExt.parse(self.by_name[".BTF.ext"].data, self.btf)
        self.code_sections = self._code_sections()
        self.functions = self._functions()
        maps = self._maps()
        self.arena = self._arena_data(maps)
        for section in self.code_sections:
            self._apply_relocations(section)
            self._attach_lines(section)
        license = self._license()
        obj = Object(
            path=self.path,
            programs=[],
            maps=maps,
            license=license,
            kern_version=self._kern_version(),
            code_sections=self.code_sections,
            btf=self.btf,
            btf_ext=self.btf_ext,
            symbols=[self._model_symbol(s) for s in self.symbols if s.name and s.type != "STT_FILE"],
        )
        obj.programs = [self._link(entry, license, obj) for entry in self._entries()]
        return obj

    def _license(self) -> str:
        section = self.by_name.get("license")
        if section is None:
            return ""
        return section.data.split(b"\0", 1)[0].decode("utf-8", "replace")

    def _kern_version(self) -> int:
        section = self.by_name.get("version")
        if section is None:
            return 0
        if len(section.data) < 4:
            raise ObjectFormatError("version section is shorter than 4 bytes")
        return struct.unpack_from(self.endian + "I", section.data)[0]

    def _model_symbol(self, sym: _RawSymbol) -> Symbol:
        section = self._section_of(sym)
        kind = SYMBOL_KINDS.get(sym.type)
        if kind is None:
            kind = "label" if section is not None and section.flags & SHF_EXECINSTR else "notype"
        return Symbol(
            name=sym.name,
            section=section.name if section else "",
            value=sym.value,
            size=sym.size,
            kind=kind,
            bind=SYMBOL_BINDS.get(sym.bind) or str(sym.bind).lower().removeprefix("stb_"),  # int: a value pyelftools cannot name
        )

    # -- code ---------------------------------------------------------------------
    def _code_sections(self) -> list[CodeSection]:
        result = []
        for sec in self.sections:
            if not sec.flags & SHF_EXECINSTR or sec.type != "SHT_PROGBITS" or not sec.data:
                continue
            if len(sec.data) % SLOT:
                raise ObjectFormatError(f"code section {sec.name}: size {len(sec.data)} is not a multiple of {SLOT}")
            data = sec.data if self.endian == "<" else _code_to_little_endian(sec.data)
            try:
                insns = decode(data)
            except DecodeError as e:
                raise ObjectFormatError(f"code section {sec.name}: {e}") from None
            symbols = sorted(
                (self._model_symbol(s) for s in self.symbols
                 if s.shndx == sec.index and s.name and s.type not in ("STT_SECTION", "STT_FILE")),
                key=lambda s: (s.value, s.kind != "func"),
            )  # fmt: skip
            result.append(CodeSection(sec.name, sec.index, data, insns, symbols))
        return result

    def _functions(self) -> dict[int, list[_Function]]:
        """Function ranges per code section index, from the FUNC symbols."""
        by_section: dict[int, list[_Function]] = {}
        for section in self.code_sections:
            starts = {insn.pc for insn in section.insns}
            nslots = len(section.data) // SLOT
            syms = sorted((s for s in self.symbols if s.shndx == section.index and s.type == "STT_FUNC"),
                          key=lambda s: s.value)  # fmt: skip
            funcs = []
            for i, sym in enumerate(syms):
                if sym.value % SLOT or sym.value // SLOT not in starts:
                    raise ObjectFormatError(f"function {sym.name} starts at bad offset {sym.value} in {section.name}")
                start = sym.value // SLOT
                if sym.size:
                    if sym.size % SLOT or sym.value + sym.size > len(section.data):
                        raise ObjectFormatError(f"function {sym.name} has bad size {sym.size} in {section.name}")
                    end = start + sym.size // SLOT
                else:
                    later = [s.value // SLOT for s in syms[i + 1 :] if s.value > sym.value]
                    end = later[0] if later else nslots
                if end != nslots and end not in starts:
                    raise ObjectFormatError(f"function {sym.name} ends inside an ld_imm64 in {section.name}")
                funcs.append(_Function(sym.name, section, start, end, sym.bind in ("STB_GLOBAL", "STB_WEAK")))
            by_section[section.index] = funcs
        return by_section

    def _entries(self) -> list[_Function]:
        """Program entry points, as libbpf finds them, in section/offset order."""
        entries = []
        for section in self.code_sections:
            if section.name == ".text":
                continue
            funcs = self.functions[section.index]
            if not funcs:  # legacy: a section without symbols is one program named after it
                entries.append(_Function(section.name, section, 0, len(section.data) // SLOT, True))
            entries.extend(f for f in funcs if f.is_global)
        return entries

    def _function_at(self, section_index: int, slot: int, caller: str) -> _Function:
        section = next((s for s in self.code_sections if s.index == section_index), None)
        if section is None:
            raise ObjectFormatError(f"{caller}: call target is not in a code section")
        funcs = self.functions[section.index]
        for func in funcs:
            if func.start == slot:
                return func
            if func.start < slot < func.end:
                raise ObjectFormatError(f"{caller}: call into the middle of function {func.name} ({section.name}+{slot})")
        nslots = len(section.data) // SLOT
        if not 0 <= slot < nslots or slot not in {i.pc for i in section.insns}:
            raise ObjectFormatError(f"{caller}: call target {slot} outside {section.name} ({nslots} slots)")
        # No symbol there (hand-written code): the function runs to the next one or the end.
        end = min([f.start for f in funcs if f.start > slot] + [nslots])
        func = _Function(f"{section.name}+{slot}", section, slot, end, False)
        funcs.append(func)
        return func

    # -- relocations ----------------------------------------------------------------
    def _relocations(self, target_index: int):
        """(number, relocation section name, offset, type, symbol, addend or None) per entry."""
        for sec in self.sections:
            if sec.type not in ("SHT_REL", "SHT_RELA") or sec.header["sh_info"] != target_index:
                continue
            rela = sec.type == "SHT_RELA"
            entsize = RELOCATION_ENTRY_SIZES[sec.type]  # sh_entsize checked by _read_sections
            fmt = struct.Struct(self.endian + ("QQq" if rela else "QQ"))
            for i in range(len(sec.data) // entsize):
                fields = fmt.unpack_from(sec.data, i * entsize)
                offset, info = fields[0], fields[1]
                addend = fields[2] if rela else None
                sym_index, rtype = info >> 32, info & 0xFFFFFFFF
                if sym_index >= len(self.symbols) or sym_index == 0:
                    raise ObjectFormatError(f"relocation #{i} in {sec.name}: bad symbol index {sym_index}")
                if rtype not in RELOC_TYPES:
                    raise ObjectFormatError(f"relocation #{i} in {sec.name}: unknown relocation type {rtype}")
                yield i, sec.name, offset, rtype, self.symbols[sym_index], addend

    def _apply_relocations(self, section: CodeSection) -> None:
        by_pc = {insn.pc: insn for insn in section.insns}
        for i, rel_name, offset, rtype, sym, addend in self._relocations(section.index):
            where = f"relocation #{i} in {rel_name}"
            if rtype == 0:
                continue
            if offset % SLOT or offset >= len(section.data):
                raise ObjectFormatError(f"{where}: offset {offset} outside {section.name} ({len(section.data)} bytes)")
            insn = by_pc.get(offset // SLOT)
            if insn is None:
                raise ObjectFormatError(f"{where}: offset {offset} is the second half of an ld_imm64")
            insn.reloc = self._reloc_for(insn, section, sym, addend, where)

    def _reloc_for(self, insn: Instruction, section: CodeSection, sym: _RawSymbol, addend, where: str) -> Reloc:
        """Classify one relocation the way bpf_program__record_reloc does."""
        if not insn.is_call and not insn.is_ld_imm64:
            raise ObjectFormatError(f"{where}: against {sym.name} on an instruction that is neither call nor ld_imm64")
        if sym.shndx == SHN_UNDEF:
            if not sym.name:
                raise ObjectFormatError(f"{where}: against an unnamed undefined symbol")
            if insn.is_call:  # a kfunc: libbpf makes it BPF_PSEUDO_KFUNC_CALL (imm: the BTF id, at load)
                insn.src = CallSrc.KFUNC
            return Reloc(RelocKind.KFUNC if insn.is_call else RelocKind.EXTERN, sym.name)
        target = self._section_of(sym)
        if target is None:
            raise ObjectFormatError(f"{where}: against {sym.name} in special section {sym.shndx:#x}")
        if insn.is_call:
            if insn.src != 1:
                raise ObjectFormatError(f"{where}: call relocation on a call that is not a BPF-to-BPF call")
            if not target.flags & SHF_EXECINSTR or target.name not in (".text", section.name):
                raise ObjectFormatError(f"{where}: call to {sym.name} in section {target.name}")
            if sym.value % SLOT:
                raise ObjectFormatError(f"{where}: call to {sym.name} at unaligned offset {sym.value}")
            slot = sym.value // SLOT + insn.imm + 1
            self.link_targets[(section.index, insn.pc)] = (target.index, slot)
            return Reloc(RelocKind.CALL, sym.name, offset=slot)
        if target.flags & SHF_EXECINSTR:
            if target.name != ".text":
                raise ObjectFormatError(f"{where}: address of {sym.name} in {target.name} (only .text functions)")
            if sym.value % SLOT or insn.imm % SLOT:
                raise ObjectFormatError(f"{where}: unaligned function address {sym.name}+{insn.imm}")
            slot = (sym.value + insn.imm) // SLOT
            self.link_targets[(section.index, insn.pc)] = (target.index, slot)
            return Reloc(RelocKind.FUNC, sym.name, offset=slot)
        if target.name in (".maps", "maps"):
            name = self.map_at.get((target.index, sym.value))
            if name is None:
                raise ObjectFormatError(f"{where}: no map at offset {sym.value} of {target.name} ({sym.name})")
            return Reloc(RelocKind.MAP, sym.name, map=name)
        if _is_global_data(target):
            # libbpf: the byte offset is st_value (variable symbols) + imm (section symbols).
            offset = sym.value + insn.imm + (addend or 0)
            return Reloc(RelocKind.MAP_VALUE, sym.name, map=target.name, offset=offset)
        if target.name == ARENA_DATA_SECTION and self.arena is not None:  # an address in the arena
            arena, data_off = self.arena
            return Reloc(RelocKind.MAP_VALUE, sym.name, map=arena, offset=data_off + sym.value + insn.imm + (addend or 0))
        raise ObjectFormatError(f"{where}: ld_imm64 of {sym.name} in section {target.name}, which is not a map")

    # -- lines ----------------------------------------------------------------------
    def _attach_lines(self, section: CodeSection) -> None:
        if self.btf_ext is None:
            return
        records = sorted(self.btf_ext.line_info.get(section.name, ()), key=lambda r: r.insn_off)
        if not records:
            return
        offsets = [r.insn_off for r in records]
        infos = [LineInfo(r.file, r.line, r.col, r.source) for r in records]
        for insn in section.insns:
            i = bisect_right(offsets, insn.pc * SLOT) - 1
            if i >= 0:
                insn.line = infos[i]

    # -- linking --------------------------------------------------------------------
    def _link(self, entry: _Function, license: str, obj: Object) -> Program:
        """Entry function + every transitively called function, appended once each.

        Callees are placed depth-first in the order they are first called, as
        libbpf's bpf_object__reloc_code does, so the loaded program (and its
        kernel tag) is the one libbpf would load.
        """
        placed: dict[tuple[int, int], int] = {entry.key: 0}
        order = [entry]
        bodies: dict[tuple[int, int], list[Instruction]] = {}
        func_info = []
        next_pc = entry.end - entry.start

        def visit(func: _Function) -> None:
            nonlocal next_pc, func_info
            base = placed[func.key]
            func_info += self._func_info(func, base)
            body = bodies[func.key] = []
            for orig in func.section.insns:
                if not func.start <= orig.pc < func.end:
                    continue
                insn = orig.copy()  # its reloc is shared: a NamedTuple, never changed in place
                target = self._code_target(func, orig)
                if target is not None:
                    callee = self._function_at(*target, caller=f"{func.name} at {func.section.name}+{orig.pc}")
                    if callee.key not in placed:
                        placed[callee.key] = next_pc
                        next_pc += callee.end - callee.start
                        order.append(callee)
                        visit(callee)
                    new_pc = base + orig.pc - func.start
                    target_pc = placed[callee.key] + target[1] - callee.start
                    insn.imm = target_pc - new_pc - 1
                    kind = RelocKind.FUNC if insn.is_ld_imm64 else RelocKind.CALL
                    if insn.is_ld_imm64:
                        insn.src = PseudoSrc.FUNC
                    insn.reloc = Reloc(kind, callee.name, offset=target_pc)
                body.append(insn)

        visit(entry)
        insns = [insn for func in order for insn in bodies[func.key]]
        subprograms = [
            Subprogram(f.name, placed[f.key], placed[f.key] + f.end - f.start, f.section.name) for f in order
        ]
        renumber(insns)
        definition = program_def(entry.section.name)
        return Program(
            name=entry.name,
            section=entry.section.name,
            type=definition.prog_type,
            type_name=definition.type_name,
            insns=insns,
            subprograms=subprograms,
            license=license,
            attach_type=definition.attach_type,
            frags=definition.frags,
            func_info=sorted(func_info),
            object=obj,
        )

    def _code_target(self, func: _Function, insn: Instruction) -> tuple[int, int] | None:
        """(section index, slot) a local call or function address points at, or None."""
        linked = self.link_targets.get((func.section.index, insn.pc))
        if linked is not None:
            return linked
        if insn.is_local_call and (insn.reloc is None or insn.reloc.kind is RelocKind.CALL):
            return (func.section.index, insn.pc + 1 + insn.imm)
        return None

    def _func_info(self, func: _Function, base: int) -> list[tuple[int, int]]:
        if self.btf_ext is None:
            return []
        return [
            (base + off // SLOT - func.start, type_id)
            for off, type_id in self.btf_ext.func_info.get(func.section.name, ())
            if func.start <= off // SLOT < func.end
        ]

    # -- maps -----------------------------------------------------------------------
    def _maps(self) -> dict[str, MapDef]:
        """Legacy maps, BTF-defined maps, then global data: libbpf's order."""
        maps: dict[str, MapDef] = {}
        for m in [*self._legacy_maps(), *self._btf_maps(), *self._global_data_maps()]:
            if m.name in maps:
                raise ObjectFormatError(f"two maps named {m.name}")
            maps[m.name] = m
        return maps

    def _map_symbols(self, section: _Section) -> list[_RawSymbol]:
        return sorted(
            (s for s in self.symbols if s.shndx == section.index and s.type != "STT_SECTION" and s.name),
            key=lambda s: s.value,
        )

    def _legacy_maps(self) -> list[MapDef]:
        section = self.by_name.get("maps")
        if section is None:
            return []
        syms = self._map_symbols(section)
        result = []
        for sym in syms:
            size = sym.size or len(section.data) // len(syms)
            if size < LEGACY_MAP_DEF.size:
                raise ObjectFormatError(f"legacy map {sym.name}: {size} bytes, struct bpf_map_def needs {LEGACY_MAP_DEF.size}")
            if sym.value + LEGACY_MAP_DEF.size > len(section.data):
                raise ObjectFormatError(f"legacy map {sym.name}: definition runs past the end of the maps section")
            fields = struct.unpack_from(self.endian + LEGACY_MAP_DEF.format, section.data, sym.value)
            map_type, key_size, value_size, max_entries, flags = fields
            result.append(MapDef(sym.name, _map_type(map_type, sym.name), key_size, value_size, max_entries,
                                 flags=flags, section="maps"))  # fmt: skip
            self.map_at[(section.index, sym.value)] = sym.name
        return result

    def _btf_maps(self) -> list[MapDef]:
        section = self.by_name.get(".maps")
        if section is None:
            return []
        if self.btf is None:
            raise ObjectFormatError(".maps section without BTF: BTF-defined maps need -g")
        datasec_id = self.btf.find(".maps", Kind.DATASEC)
        if datasec_id is None:
            raise ObjectFormatError("BTF has no DATASEC for .maps")
        symbols = {s.name: s for s in self._map_symbols(section)}
        result = []
        for entry in self.btf.types[datasec_id].members:
            var = self.btf.types[entry.type]
            if var.kind is not Kind.VAR:
                raise ObjectFormatError(f".maps DATASEC entry [{var.id}] is {var.kind.name}, not VAR")
            sym = symbols.get(var.name)
            if sym is None:
                raise ObjectFormatError(f"map {var.name}: no ELF symbol in .maps")
            map_def = self._btf_map_def(var.name, var.type, inner_allowed=True)
            if "values" in map_def.extra:
                values = next(m for m in self.btf.resolve(var.type).members if m.name == "values")
                map_def.extra["values"] = self._map_slot_inits(section, sym, values.bit_offset // 8)
            result.append(map_def)
            self.map_at[(section.index, sym.value)] = var.name
        return result

    def _btf_map_def(self, name: str, type_id: int, inner_allowed: bool) -> MapDef:
        """Read a `struct { __uint(type, ...); __type(key, ...); ... }` map definition."""
        btf = self.btf
        struct_type = btf.resolve(type_id)
        if struct_type.kind is not Kind.STRUCT:
            raise ObjectFormatError(f"map {name}: definition is a {struct_type.kind.name}, not a struct")
        fields: dict = {"key_size": 0, "value_size": 0, "max_entries": 0, "type": 0}
        extra: dict = {}
        key_type = value_type = 0
        inner = None
        for index, member in enumerate(struct_type.members):
            if member.name in BTF_MAP_INT_FIELDS:
                value = self._btf_map_long(name, member) if member.name == "map_extra" else self._btf_map_uint(name, member)
                attribute = BTF_MAP_INT_FIELDS[member.name]
                if attribute is None:
                    extra[member.name] = value
                else:
                    fields[attribute] = value
            elif member.name in ("key", "value"):
                pointer = btf.resolve(member.type)
                if pointer.kind is not Kind.PTR:
                    raise ObjectFormatError(f"map {name}: {member.name} must be declared with __type()")
                if member.name == "key":
                    key_type = pointer.type
                else:
                    value_type = pointer.type
            elif member.name == "values":
                if index != len(struct_type.members) - 1:
                    raise ObjectFormatError(f"map {name}: values must be the last field")
                inner = self._btf_map_values(name, member, fields, inner_allowed)
                extra["values"] = {}  # filled from the initialiser relocations by the caller
        map_type = _map_type(fields.pop("type"), name)
        for attribute, type_ref in (("key_size", key_type), ("value_size", value_type)):
            if type_ref:
                size = btf.sizeof(type_ref)
                if fields[attribute] and fields[attribute] != size:
                    raise ObjectFormatError(f"map {name}: {attribute} {fields[attribute]} conflicts with its type ({size})")
                fields[attribute] = size
        if "values" in extra:
            if fields["value_size"] not in (0, 4):
                raise ObjectFormatError(f"map {name}: value_size must be 4 for {map_type.kernel_name}")
            fields["value_size"] = 4
        return MapDef(name=name, type=map_type, inner=inner, section=".maps",
                      btf_key_type_id=key_type, btf_value_type_id=value_type, extra=extra, **fields)  # fmt: skip

    def _btf_map_uint(self, name: str, member) -> int:
        """__uint(field, N) is `int (*field)[N]`: N is the array length."""
        pointer = self.btf.resolve(member.type)
        array = self.btf.resolve(pointer.type) if pointer.kind is Kind.PTR else pointer
        if pointer.kind is not Kind.PTR or array.kind is not Kind.ARRAY:
            raise ObjectFormatError(f"map {name}: {member.name} must be declared with __uint()")
        return array.array[2]

    def _btf_map_long(self, name: str, member) -> int:
        """map_extra may be 64 bits: __ulong(field, N) is an enum whose one value is N (libbpf
        get_map_field_long); __uint() is accepted too."""
        t = self.btf.resolve(member.type)
        if t.kind is Kind.PTR:
            return self._btf_map_uint(name, member)
        if t.kind not in (Kind.ENUM, Kind.ENUM64) or len(t.members) != 1:
            raise ObjectFormatError(f"map {name}: {member.name} must be declared with __uint() or __ulong()")
        return t.members[0].value & ((1 << 64) - 1)

    def _arena_data(self, maps: dict[str, MapDef]) -> tuple[str, int] | None:
        """The .addr_space.1 section (__arena globals) is the arena map's initial data, placed
        at the end of the arena (libbpf init_arena_map_data): (arena map, offset of the data)."""
        section = self.by_name.get(ARENA_DATA_SECTION)
        if section is None:
            return None
        arenas = [m for m in maps.values() if m.type == MapType.ARENA]
        if len(arenas) != 1:
            raise ObjectFormatError(f"section {ARENA_DATA_SECTION} needs exactly one arena map, the object has {len(arenas)}")
        arena = arenas[0]
        size = section.header["sh_size"]
        pages = -(-size // ARENA_PAGE) * ARENA_PAGE
        if pages > arena.max_entries * ARENA_PAGE:
            raise ObjectFormatError(f"map {arena.name}: declared arena data size {size} exceeds arena size "
                                    f"{arena.max_entries * ARENA_PAGE}")
        offset = arena.max_entries * ARENA_PAGE - pages
        data = bytes(size) if section.type == "SHT_NOBITS" else section.data
        arena.extra["arena_data"] = (offset, data)  # kept: the runtime would copy it in
        return arena.name, offset

    def _btf_map_values(self, name: str, member, fields: dict, inner_allowed: bool) -> MapDef | None:
        """`__array(values, T)`: T is the inner map template or a prog_array's function type."""
        map_type = fields["type"]
        if not inner_allowed:
            raise ObjectFormatError(f"map {name}: multi-level inner maps are not supported")
        array = self.btf.resolve(member.type)
        if array.kind is not Kind.ARRAY or array.array[2] != 0:
            raise ObjectFormatError(f"map {name}: values must be a zero-sized array")
        pointer = self.btf.resolve(array.array[0])
        if pointer.kind is not Kind.PTR:
            raise ObjectFormatError(f"map {name}: values must be an array of pointers")
        target = self.btf.resolve(pointer.type)
        if map_type == MapType.PROG_ARRAY:
            if target.kind is not Kind.FUNC_PROTO:
                raise ObjectFormatError(f"map {name}: prog_array values must be function pointers")
            return None
        if map_type not in MAP_IN_MAP_TYPES:
            raise ObjectFormatError(f"map {name}: values only for map-in-map and prog_array maps")
        return self._btf_map_def(f"{name}.inner", pointer.type, inner_allowed=False)

    def _map_slot_inits(self, section: _Section, sym: _RawSymbol, values_offset: int) -> dict[int, str]:
        """`.values = { [i] = &x }` initialisers: relocations inside the map's symbol."""
        inits = {}
        for i, rel_name, offset, rtype, target, _addend in self._relocations(section.index):
            start = sym.value + values_offset
            if not start <= offset < sym.value + max(sym.size, values_offset):
                continue
            if (offset - start) % 8:
                raise ObjectFormatError(f"relocation #{i} in {rel_name}: misaligned values slot of map {sym.name}")
            inits[(offset - start) // 8] = target.name
        return inits

    def _global_data_maps(self) -> list[MapDef]:
        result = []
        for sec in self.sections:
            if not _is_global_data(sec):
                continue
            size = sec.header["sh_size"]
            if size == 0:
                continue
            if sec.type == "SHT_NOBITS":
                if size > MAX_NOBITS_SIZE:  # not backed by the file: a corrupted size must not allocate
                    raise ObjectFormatError(f"section {sec.name}: size {size} exceeds {MAX_NOBITS_SIZE >> 20} MiB")
                initial = bytes(size)
            else:
                initial = sec.data
            readonly = sec.name.startswith(".rodata")
            datasec = self.btf.find(sec.name, Kind.DATASEC) if self.btf else None
            # libbpf (bpf_object__init_internal_map): .rodata is BPF_F_RDONLY_PROG; maps
            # whose DATASEC holds a non-static variable are mmapable (map_is_mmapable).
            flags = BPF_F_RDONLY_PROG if readonly else 0
            if datasec is not None and self._has_global_var(datasec):
                flags |= BPF_F_MMAPABLE
            result.append(MapDef(name=sec.name, type=MapType.ARRAY, key_size=4, value_size=size, max_entries=1,
                                 flags=flags, section=sec.name, initial=initial, readonly=readonly,
                                 btf_value_type_id=datasec or 0))  # fmt: skip
        return result

    def _has_global_var(self, datasec_id: int) -> bool:
        for entry in self.btf.types[datasec_id].members:
            var = self.btf.types[entry.type]
            if var.kind is Kind.VAR and var.linkage != BTF_VAR_STATIC:
                return True
        return False


def _c_string(data: bytes, offset: int) -> str:
    """The NUL-terminated string at `offset` of the file (a string table entry; "" past its end)."""
    end = data.find(b"\0", offset)
    return data[offset : len(data) if end < 0 else end].decode("utf-8", "replace")


def _is_global_data(sec: _Section) -> bool:
    name = sec.name
    if sec.flags & SHF_EXECINSTR:
        return False
    return name in (".data", ".rodata", ".bss") or name.startswith((".data.", ".rodata."))


def _map_type(value: int, name: str) -> MapType:
    try:
        return MapType(value)
    except ValueError:
        raise ObjectFormatError(f"map {name}: unknown map type {value}") from None


def _code_to_little_endian(data: bytes) -> bytes:
    """Big-endian eBPF (bpfeb) -> the little-endian encoding the model uses.

    In bpfeb the register byte holds dst in the high nibble and the multi-byte
    fields are big-endian; the second slot of ld_imm64 follows the same layout.
    """
    out = bytearray()
    for pos in range(0, len(data), SLOT):
        code, regs, off, imm = struct.unpack_from(">BBhi", data, pos)
        out += struct.pack("<BBhi", code, ((regs & 0x0F) << 4) | (regs >> 4), off, imm)
    return bytes(out)
