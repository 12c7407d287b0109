"""BTF and BTF.ext: the type and source-line metadata clang puts in an eBPF object.

pyelftools has no BTF support, so this is a small parser of our own, following the
layout in the kernel's uapi `linux/btf.h` and Documentation/bpf/btf.rst.  Records are
declared once as `Layout`s (field names + struct codes, pyelftools style) and read in
the object's byte order.  Every type id and string offset is validated while parsing,
so later stages can index `BTF.types` without checks; malformed input raises
`ObjectFormatError` with a one-line reason.
"""


import enum
import re
import struct
from collections import namedtuple
from typing import Any, Literal, NamedTuple

from ..errors import ObjectFormatError

BTF_MAGIC = 0xEB9F
MAX_TYPES = 1 << 20  # far above anything clang emits; guards corrupted lengths


class Layout:
    """A fixed-size record: named fields with struct codes, for either byte order.  Its
    record type is made at its first parse (a namedtuple compiles its __new__ with eval,
    ~0.1 ms; most objects use few of these layouts)."""

    def __init__(self, name: str, spec: str):
        names, codes = zip(*(item.split(":") for item in spec.split()))
        self.name = name
        self._names = names
        self._tuple: Any = None
        self._structs = {e: struct.Struct(e + "".join(codes)) for e in "<>"}
        self.size = self._structs["<"].size

    def parse(self, data: bytes, offset: int, endian: str):
        if offset < 0 or offset + self.size > len(data):
            raise ObjectFormatError(f"{self.name} at offset {offset} runs past the end of its section")
        if self._tuple is None:
            self._tuple = namedtuple(self.name, self._names)
        return self._tuple._make(self._structs[endian].unpack_from(data, offset))


# -- uapi/linux/btf.h -----------------------------------------------------------
BTF_HEADER = Layout("btf_header", "magic:H version:B flags:B hdr_len:I type_off:I type_len:I str_off:I str_len:I")
BTF_TYPE = Layout("btf_type", "name_off:I info:I size_or_type:I")
BTF_INT = Layout("btf_int", "encoding:I")
BTF_ARRAY = Layout("btf_array", "type:I index_type:I nelems:I")
BTF_MEMBER = Layout("btf_member", "name_off:I type:I offset:I")
BTF_ENUM = Layout("btf_enum", "name_off:I val:i")
BTF_ENUM64 = Layout("btf_enum64", "name_off:I val_lo32:I val_hi32:I")
BTF_PARAM = Layout("btf_param", "name_off:I type:I")
BTF_VAR = Layout("btf_var", "linkage:I")
BTF_VAR_SECINFO = Layout("btf_var_secinfo", "type:I offset:I size:I")
BTF_DECL_TAG = Layout("btf_decl_tag", "component_idx:i")

BTF_EXT_HEADER = Layout(
    "btf_ext_header",
    "magic:H version:B flags:B hdr_len:I func_info_off:I func_info_len:I line_info_off:I line_info_len:I",
)
BTF_EXT_CORE_HEADER = Layout("btf_ext_core_header", "core_relo_off:I core_relo_len:I")
BTF_EXT_SECTION = Layout("btf_ext_info_sec", "sec_name_off:I num_info:I")
BPF_FUNC_INFO = Layout("bpf_func_info", "insn_off:I type_id:I")
BPF_LINE_INFO = Layout("bpf_line_info", "insn_off:I file_name_off:I line_off:I line_col:I")
BPF_CORE_RELO = Layout("bpf_core_relo", "insn_off:I type_id:I access_str_off:I kind:I")
U32 = Layout("u32", "value:I")


class Kind(enum.IntEnum):
    VOID = 0  # only type id 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


# Kinds whose third word is a size (the others' is a type id, or unused).
SIZED_KINDS = {Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.DATASEC, Kind.FLOAT, Kind.ENUM64}
# Kinds whose third word is a type id.
REFERRING_KINDS = {
    Kind.PTR, Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT,
    Kind.FUNC, Kind.FUNC_PROTO, Kind.VAR, Kind.DECL_TAG, Kind.TYPE_TAG,
}  # fmt: skip
# Modifiers `resolve` looks through (they do not change size or layout).
MODIFIER_KINDS = {Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG}
# What follows the common btf_type: (one record after it, one record per vlen).
KIND_TRAILER: dict[Kind, tuple[Layout | None, Layout | None]] = {
    Kind.INT: (BTF_INT, None),
    Kind.ARRAY: (BTF_ARRAY, None),
    Kind.STRUCT: (None, BTF_MEMBER),
    Kind.UNION: (None, BTF_MEMBER),
    Kind.ENUM: (None, BTF_ENUM),
    Kind.FUNC_PROTO: (None, BTF_PARAM),
    Kind.VAR: (BTF_VAR, None),
    Kind.DATASEC: (None, BTF_VAR_SECINFO),
    Kind.DECL_TAG: (BTF_DECL_TAG, None),
    Kind.ENUM64: (None, BTF_ENUM64),
}


class Member(NamedTuple):  # not a dataclass: compiled with exec at every start
    """A struct/union member, function parameter, enum value or DATASEC entry."""

    name: str = ""
    type: int = 0  # type id (members, params, datasec vars)
    bit_offset: int = 0  # members: offset in bits; datasec: byte offset
    bitfield_size: int = 0
    value: int = 0  # enum values
    size: int = 0  # datasec vars


class BtfType:
    """One BTF type record, its kind's fields decoded.  (A plain class: the parser fills in
    its kind's fields, and a dataclass compiles its methods at every start.)"""

    __slots__ = ("id", "kind", "name", "size", "type", "vlen", "kind_flag", "members", "int_encoding", "int_offset",
                 "int_bits", "array", "linkage", "component_idx")

    def __init__(self, id: int, kind: Kind, name: str = "", vlen: int = 0, kind_flag: bool = False) -> None:
        self.id, self.kind, self.name, self.vlen, self.kind_flag = id, kind, name, vlen, kind_flag
        self.size = 0  # SIZED_KINDS
        self.type = 0  # REFERRING_KINDS (FUNC_PROTO: return type)
        self.members: list[Member] = []
        self.int_encoding = 0  # INT: 1 signed, 2 char, 4 bool
        self.int_offset = 0
        self.int_bits = 0
        self.array: tuple[int, int, int] | None = None  # ARRAY: (elem type, index type, nelems)
        self.linkage = 0  # VAR / FUNC
        self.component_idx = -1  # DECL_TAG

    def referenced_ids(self) -> list[int]:
        ids = [self.type] if self.kind in REFERRING_KINDS else []
        if self.array is not None:
            ids += [self.array[0], self.array[1]]
        if self.kind in (Kind.STRUCT, Kind.UNION, Kind.FUNC_PROTO, Kind.DATASEC):
            ids += [m.type for m in self.members]
        return ids


VOID = BtfType(0, Kind.VOID, "void")


class StringTable:
    """A NUL-separated string section; offsets are validated on every lookup."""

    def __init__(self, data: bytes, what: str):
        if data and data[-1] != 0:
            raise ObjectFormatError(f"{what} string section is not NUL-terminated")
        self.data = data
        self.what = what
        self._cache: dict[int, str] = {}

    def __getitem__(self, offset: int) -> str:
        text = self._cache.get(offset)
        if text is not None:
            return text
        if not 0 <= offset < len(self.data):
            if offset == 0:  # an empty string section only holds the empty name
                return ""
            raise ObjectFormatError(f"{self.what} string offset {offset} out of range (size {len(self.data)})")
        end = self.data.index(0, offset)
        try:
            text = self.data[offset:end].decode("utf-8")
        except UnicodeDecodeError:
            raise ObjectFormatError(f"{self.what} string at offset {offset} is not valid UTF-8") from None
        self._cache[offset] = text
        return text


class BTF:
    """The parsed `.BTF` section: `types[id]` (0 = void) and its string table."""

    def __init__(self, data: bytes, endian: str | None = None):
        self.endian = endian or _detect_endian(data, "BTF")
        header = BTF_HEADER.parse(data, 0, self.endian)
        if header.magic != BTF_MAGIC:
            raise ObjectFormatError("BTF: bad magic")
        if header.hdr_len < BTF_HEADER.size or header.hdr_len > len(data):
            raise ObjectFormatError(f"BTF: bad header length {header.hdr_len}")
        base = header.hdr_len
        type_data = _subsection(data, base + header.type_off, header.type_len, "BTF type section")
        self.strings = StringTable(_subsection(data, base + header.str_off, header.str_len, "BTF string section"), "BTF")
        self.header = header
        self.types: list[BtfType] = [VOID]
        self._parse_types(type_data)
        self._validate_ids()
        self._by_name: dict[tuple[str, Kind | None], int] | None = None

    # -- parsing ----------------------------------------------------------------
    def _parse_types(self, data: bytes) -> None:
        offset = 0
        while offset < len(data):
            if len(self.types) > MAX_TYPES:
                raise ObjectFormatError(f"BTF: more than {MAX_TYPES} types")
            raw = BTF_TYPE.parse(data, offset, self.endian)
            offset += BTF_TYPE.size
            kind_value = (raw.info >> 24) & 0x1F
            try:
                kind = Kind(kind_value)
            except ValueError:
                raise ObjectFormatError(f"BTF: type [{len(self.types)}] has unknown kind {kind_value}") from None
            if kind is Kind.VOID:
                raise ObjectFormatError(f"BTF: type [{len(self.types)}] has kind 0")
            btf_type = BtfType(
                id=len(self.types),
                kind=kind,
                name=self.strings[raw.name_off],
                vlen=raw.info & 0xFFFF,
                kind_flag=bool(raw.info >> 31),
            )
            if kind in SIZED_KINDS:
                btf_type.size = raw.size_or_type
            elif kind in REFERRING_KINDS:
                btf_type.type = raw.size_or_type
            offset = self._parse_trailer(btf_type, data, offset)
            self.types.append(btf_type)

    def _parse_trailer(self, t: BtfType, data: bytes, offset: int) -> int:
        single, repeated = KIND_TRAILER.get(t.kind, (None, None))
        if single is not None:
            rec = single.parse(data, offset, self.endian)
            offset += single.size
            if t.kind is Kind.INT:
                t.int_encoding = (rec.encoding >> 24) & 0x0F
                t.int_offset = (rec.encoding >> 16) & 0xFF
                t.int_bits = rec.encoding & 0xFF
            elif t.kind is Kind.ARRAY:
                t.array = (rec.type, rec.index_type, rec.nelems)
            elif t.kind is Kind.VAR:
                t.linkage = rec.linkage
            elif t.kind is Kind.DECL_TAG:
                t.component_idx = rec.component_idx
        if t.kind is Kind.FUNC:
            t.linkage = t.vlen  # FUNC keeps its linkage in vlen
        if repeated is not None:
            if offset + t.vlen * repeated.size > len(data):
                raise ObjectFormatError(f"BTF: type [{t.id}] with {t.vlen} entries runs past the type section")
            for _ in range(t.vlen):
                t.members.append(self._member(t, repeated.parse(data, offset, self.endian)))
                offset += repeated.size
        return offset

    def _member(self, t: BtfType, rec) -> Member:
        if t.kind in (Kind.STRUCT, Kind.UNION):
            if t.kind_flag:
                return Member(self.strings[rec.name_off], rec.type, rec.offset & 0xFFFFFF, rec.offset >> 24)
            return Member(self.strings[rec.name_off], rec.type, rec.offset)
        if t.kind is Kind.ENUM:
            value = rec.val & 0xFFFFFFFF if not t.kind_flag else rec.val  # kind_flag: signed
            return Member(self.strings[rec.name_off], value=value)
        if t.kind is Kind.ENUM64:
            value = rec.val_lo32 | (rec.val_hi32 << 32)
            if t.kind_flag and value >= 1 << 63:
                value -= 1 << 64
            return Member(self.strings[rec.name_off], value=value)
        if t.kind is Kind.FUNC_PROTO:
            return Member(self.strings[rec.name_off], rec.type)
        return Member(type=rec.type, bit_offset=rec.offset, size=rec.size)  # DATASEC

    def _validate_ids(self) -> None:
        count = len(self.types)
        for t in self.types[1:]:
            for ref in t.referenced_ids():
                if ref >= count:
                    raise ObjectFormatError(f"BTF: type [{t.id}] {t.kind.name} refers to type id {ref} (only {count - 1} types)")

    # -- queries --------------------------------------------------------------------
    def type(self, type_id: int) -> BtfType:
        if not 0 <= type_id < len(self.types):
            raise ObjectFormatError(f"BTF: type id {type_id} out of range")
        return self.types[type_id]

    def name_of(self, type_id: int) -> str:
        return self.type(type_id).name

    def resolve(self, type_id: int) -> BtfType:
        """The type behind typedef/const/volatile/restrict/type_tag."""
        t = self.type(type_id)
        for _ in range(len(self.types)):
            if t.kind not in MODIFIER_KINDS:
                return t
            t = self.types[t.type]
        raise ObjectFormatError(f"BTF: type [{type_id}] is part of a modifier loop")

    def sizeof(self, type_id: int) -> int:
        """Size in bytes of a type, as the C compiler laid it out."""
        count = 1
        t = self.resolve(type_id)
        for _ in range(len(self.types)):
            if t.kind is Kind.ARRAY:
                count *= t.array[2]
                t = self.resolve(t.array[0])
                continue
            if t.kind is Kind.PTR:
                return count * 8
            if t.kind is Kind.VAR:
                t = self.resolve(t.type)
                continue
            if t.kind in SIZED_KINDS:
                return count * t.size
            raise ObjectFormatError(f"BTF: type [{type_id}] ({t.kind.name}) has no size")
        raise ObjectFormatError(f"BTF: type [{type_id}] is part of a type loop")

    def find(self, name: str, kind: Kind | None = None) -> int | None:
        """Id of the first type called `name` (of `kind`, if given)."""
        if self._by_name is None:
            self._by_name = {}
            for t in self.types[1:]:
                self._by_name.setdefault((t.name, t.kind), t.id)
                self._by_name.setdefault((t.name, None), t.id)
        return self._by_name.get((name, kind))


    # -- values ---------------------------------------------------------------------
    def format_value(self, type_id: int, data: bytes, name: str = "", plain: bool = False) -> Any:
        """`data` laid out as type `type_id`, as JSON-able values, the way bpftool's BTF
        dumper (`bpftool map dump` of a map with BTF) shows a value: integers as numbers,
        structs and unions as {field: value} (bitfields included, anonymous members
        merged), arrays as lists, char arrays as strings, enums by name, DATASECs as
        {variable: value}.  Beyond bpftool: a __be16/32/64 is read in network order, and
        byte arrays and __be32s that look like addresses are written as addresses -- six
        bytes as a MAC, four (or a __be32) named like an address as IPv4, sixteen as IPv6.
        `name` is the field's, for that guess.  Bytes the type does not cover are left out;
        a value too short for its type is shown as hex.  plain=True leaves those out and
        gives exactly bpftool's "formatted" (the differential tests' mode)."""
        try:
            return _Formatter(self, plain).format(type_id, data, name, 0)
        except (struct.error, IndexError, ValueError):
            return data.hex()

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"  # the running kernel's own types (CONFIG_DEBUG_INFO_BTF)
_FILES: dict[str, BTF] = {}  # BTF files parsed in this process, by path (a vmlinux BTF takes ~1 s)


def btf_file(path: str) -> BTF:
    """The raw BTF in a file (the kernel's, or a copy of it), parsed once per process;
    OSError when it cannot be read, ObjectFormatError when it is not BTF."""
    btf = _FILES.get(path)
    if btf is None:
        with open(path, "rb") as file:
            btf = _FILES[path] = BTF(file.read())
    return btf


MAX_FORMAT_DEPTH = 32  # nesting of structs and arrays shown; deeper is shown as hex
ByteOrder = Literal["little", "big"]
_BYTE_ORDER: dict[str, ByteOrder] = {"<": "little", ">": "big"}
# Linux's network-order integer types (include/uapi/linux/types.h)
NETWORK_ORDER_TYPEDEFS = {"__be16", "__be32", "__be64"}
# a field named like an address (saddr, daddr, addr, ip, src_ip, nexthop, gw, ...)
# (compiled on first use, by re's cache: loading an object compiles no pattern)
ADDRESS_NAME = r"(?i)addr|(^|_)(ip|ip4|ip6|ipv4|ipv6|src|dst|nexthop|gw)(_|$|\d)"


def _address_named(name: str) -> bool:
    return re.search(ADDRESS_NAME, name) is not None


def _address_text(value: int | bytes) -> str:
    """An IPv4 (int or 4 bytes) or IPv6 (16 bytes) address as text."""
    import ipaddress  # formatting an address only: loading an object does not import it

    return str(ipaddress.ip_address(value))


class _Formatter:
    """BTF.format_value's walk over one value."""

    def __init__(self, btf: "BTF", plain: bool):
        self.btf, self.plain = btf, plain

    def format(self, type_id: int, data: bytes, name: str, depth: int) -> Any:
        if depth > MAX_FORMAT_DEPTH:
            return data.hex()
        typedefs, t = self._typedef_names(type_id)
        if t.kind in SIZED_KINDS and t.kind is not Kind.DATASEC and len(data) < t.size:
            return data.hex()
        kind = t.kind
        if kind is Kind.INT:
            return self._format_int(t, data, typedefs, name)
        if kind in (Kind.ENUM, Kind.ENUM64):
            value = int.from_bytes(data[: t.size], _BYTE_ORDER[self.btf.endian], signed=t.kind_flag)
            return next((m.name for m in t.members if m.value == value), value)
        if kind is Kind.FLOAT:
            return struct.unpack(self.btf.endian + {4: "f", 8: "d"}[t.size], data[: t.size])[0]
        if kind is Kind.PTR:
            address = int.from_bytes(data[:8], _BYTE_ORDER[self.btf.endian])
            return address if self.plain else hex(address)
        if kind is Kind.ARRAY:
            return self._format_array(t, data, name, depth)
        if kind in (Kind.STRUCT, Kind.UNION):
            fields: dict[str, Any] = {}
            for m in t.members:
                value = self._format_member(m, data, depth)
                if not m.name and isinstance(value, dict) and not self.plain:
                    fields.update(value)  # an anonymous struct or union: its fields are the parent's
                else:
                    fields[m.name] = value
            return fields
        if kind is Kind.VAR:
            return self.format(t.type, data, t.name, depth + 1)
        if kind is Kind.DATASEC:
            variables = {self.btf.types[v.type].name: self.format(v.type, data[v.bit_offset: v.bit_offset + v.size], "", depth + 1)
                         for v in t.members}
            return {t.name: [{k: v} for k, v in variables.items()]} if self.plain else variables
        return data.hex()

    def _typedef_names(self, type_id: int) -> tuple[list[str], BtfType]:
        """The typedef names on the way to the underlying type (e.g. __be16, __u16), and it."""
        names, t = [], self.btf.type(type_id)
        for _ in range(len(self.btf.types)):
            if t.kind not in MODIFIER_KINDS:
                return names, t
            if t.kind is Kind.TYPEDEF:
                names.append(t.name)
            t = self.btf.types[t.type]
        raise ObjectFormatError(f"BTF: type [{type_id}] is part of a modifier loop")

    def _format_int(self, t: BtfType, data: bytes, typedefs: list[str], name: str) -> Any:
        big_endian = not self.plain and any(n in NETWORK_ORDER_TYPEDEFS for n in typedefs)
        order: ByteOrder = "big" if big_endian else _BYTE_ORDER[self.btf.endian]
        value = int.from_bytes(data[: t.size], order, signed=bool(t.int_encoding & 1))
        if t.int_encoding & 4:
            return bool(value)
        if big_endian and t.size == 4 and _address_named(name):
            return _address_text(value)
        return value

    def _format_array(self, t: BtfType, data: bytes, name: str, depth: int) -> Any:
        elem_id, _, count = t.array or (0, 0, 0)  # an ARRAY always has its record (the parser sets it)
        elem = self.btf.resolve(elem_id)
        size = self.btf.sizeof(elem_id) if count else 0
        if elem.kind is Kind.INT and size == 1:
            raw = data[:count]
            if (elem.int_encoding & 2 or elem.name == "char") and b"\0" in raw:
                text = raw.split(b"\0", 1)[0]  # a string: printable up to a NUL inside the array (as bpftool)
                if all(32 <= b < 127 for b in text):
                    return text.decode("ascii")
            if self.plain:
                pass
            elif count == 6:
                return ":".join(f"{b:02x}" for b in raw)
            elif count == 4 and _address_named(name):
                return _address_text(raw)
            elif count == 16 and _address_named(name):
                return _address_text(raw)
        return [self.format(elem_id, data[i * size: (i + 1) * size], "", depth + 1) for i in range(count)]

    def _format_member(self, m: Member, data: bytes, depth: int) -> Any:
        if m.bitfield_size:
            t = self.btf.resolve(m.type)
            container = int.from_bytes(data, _BYTE_ORDER[self.btf.endian])
            shift = m.bit_offset if self.btf.endian == "<" else len(data) * 8 - m.bit_offset - m.bitfield_size
            value = (container >> shift) & ((1 << m.bitfield_size) - 1)
            if self.plain:
                return hex(value)  # bpftool prints a bitfield's bits as hex (btf_dumper_bitfield)
            if t.kind is Kind.INT and t.int_encoding & 1 and value >> (m.bitfield_size - 1):
                value -= 1 << m.bitfield_size
            return value
        start = m.bit_offset // 8
        return self.format(m.type, data[start: start + self.btf.sizeof(m.type)], m.name, depth + 1)



class LineRecord(NamedTuple):  # not a dataclass: compiled with exec at every start
    """One BTF line-info record: an instruction's source file, line, column and text."""

    insn_off: int  # byte offset in the section
    file: str
    line: int
    col: int
    source: str


class BTFExt(NamedTuple):
    """`.BTF.ext`: per-section func_info (byte offset, type id) and line_info."""

    func_info: dict[str, list[tuple[int, int]]]
    line_info: dict[str, list[LineRecord]]
    core_relo_count: int = 0  # CO-RE relocations are counted, not applied

    @classmethod
    def parse(cls, data: bytes, btf: BTF) -> "BTFExt":
        endian = btf.endian
        header = BTF_EXT_HEADER.parse(data, 0, endian)
        if header.magic != BTF_MAGIC:
            raise ObjectFormatError("BTF.ext: bad magic")
        if header.hdr_len < BTF_EXT_HEADER.size or header.hdr_len > len(data):
            raise ObjectFormatError(f"BTF.ext: bad header length {header.hdr_len}")
        base = header.hdr_len
        strings = btf.strings

        def func(rec) -> tuple[int, int]:
            if rec.type_id >= len(btf.types):
                raise ObjectFormatError(f"BTF.ext: func_info refers to type id {rec.type_id} (only {len(btf.types) - 1} types)")
            return (rec.insn_off, rec.type_id)

        def line(rec) -> LineRecord:
            return LineRecord(rec.insn_off, strings[rec.file_name_off], rec.line_col >> 10, rec.line_col & 0x3FF, strings[rec.line_off])

        func_info = _info_sections(data, base + header.func_info_off, header.func_info_len, BPF_FUNC_INFO, func, strings, endian)
        line_info = _info_sections(data, base + header.line_info_off, header.line_info_len, BPF_LINE_INFO, line, strings, endian)
        core_count = 0
        if header.hdr_len >= BTF_EXT_HEADER.size + BTF_EXT_CORE_HEADER.size:
            core = BTF_EXT_CORE_HEADER.parse(data, BTF_EXT_HEADER.size, endian)
            relos = _info_sections(data, base + core.core_relo_off, core.core_relo_len, BPF_CORE_RELO, lambda r: r, strings, endian)
            core_count = sum(len(v) for v in relos.values())
        return cls(func_info, line_info, core_count)


def _info_sections(data, offset, length, layout: Layout, convert, strings: StringTable, endian: str) -> dict:
    """One btf_ext_info block: rec_size, then (section name, count, records) groups."""
    result: dict = {}
    if length == 0:
        return result
    block = _subsection(data, offset, length, f"BTF.ext {layout.name}")
    rec_size = U32.parse(block, 0, endian).value
    if rec_size < layout.size:
        raise ObjectFormatError(f"BTF.ext: {layout.name} record size {rec_size} < {layout.size}")
    pos = U32.size
    while pos < len(block):
        sec = BTF_EXT_SECTION.parse(block, pos, endian)
        pos += BTF_EXT_SECTION.size
        if pos + sec.num_info * rec_size > len(block):
            raise ObjectFormatError(f"BTF.ext: {layout.name} block of {sec.num_info} records runs past its section")
        records = result.setdefault(strings[sec.sec_name_off], [])
        for _ in range(sec.num_info):
            records.append(convert(layout.parse(block, pos, endian)))
            pos += rec_size
    return result


def _subsection(data: bytes, offset: int, length: int, what: str) -> bytes:
    if offset < 0 or length < 0 or offset + length > len(data):
        raise ObjectFormatError(f"{what} (offset {offset}, length {length}) runs past the end of the section")
    return data[offset : offset + length]


def _detect_endian(data: bytes, what: str) -> str:
    if data[:2] == b"\x9f\xeb":
        return "<"
    if data[:2] == b"\xeb\x9f":
        return ">"
    raise ObjectFormatError(f"{what}: bad magic")
