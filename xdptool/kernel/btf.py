"""Loading an object's BTF into the kernel, so programs can carry func_info.

The kernel insists on BTF func_info for programs with callbacks (bpf_loop,
for_each_map_elem: "missing btf func_info").  The `.BTF` section clang writes is
not loadable as is: its DATASEC types have size 0 and their variables offset 0,
which only the linker/loader knows.  As libbpf does (`btf_fixup_datasec` in
tools/lib/bpf/libbpf.c), each DATASEC gets its ELF section's size, each variable
its symbol's offset in that section, and the variables are sorted by offset
(the kernel's btf_datasec_check_meta requires increasing offsets).

Record sizes per kind follow uapi/linux/btf.h.
"""

from __future__ import annotations

import ctypes
import struct

from ..elf.model import Program
from ..errors import XdpError
from .syscall import BpfError, BtfLoadAttr, Cmd, bpf

BTF_HEADER = struct.Struct("<HBBIIIII")  # magic version flags hdr_len type_off type_len str_off str_len
BTF_TYPE = struct.Struct("<III")  # name_off info size_or_type
SECINFO = struct.Struct("<III")  # type offset size
KIND_INT, KIND_STRUCT, KIND_FUNC, KIND_FUNC_PROTO, KIND_VAR, KIND_DATASEC = 1, 4, 12, 13, 14, 15
FUNC_GLOBAL, FUNC_EXTERN = 1, 2  # enum btf_func_linkage
VAR_ALLOCATED, VAR_EXTERN = 1, 2  # enum btf_var_linkage (BTF_VAR_GLOBAL_ALLOCATED, BTF_VAR_GLOBAL_EXTERN)
# kind -> (fixed trailer bytes, bytes per vlen entry)
TRAILER = {
    1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0), 8: (0, 0),
    9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0), 15: (0, 12), 16: (0, 0),
    17: (4, 0), 18: (0, 0), 19: (0, 12),
}
FUNC_INFO = struct.Struct("<II")  # struct bpf_func_info: insn_off, type_id
def vmlinux_func_id(name: str) -> int:
    """The BTF id of the running kernel's function `name`, as libbpf resolves a kfunc
    (an extern __ksym function); a name the kernel does not have is refused in libbpf's words."""
    from ..elf.btf import VMLINUX_BTF, Kind, btf_file

    try:
        btf = btf_file(VMLINUX_BTF)
    except OSError as error:
        raise XdpError(f"kfunc {name}: cannot read the kernel's BTF ({VMLINUX_BTF}: {error.strerror})") from None
    type_id = btf.find(name, Kind.FUNC)
    if type_id is None:
        raise XdpError(f"extern (func ksym) '{name}': not found in kernel BTF")
    return type_id
LOG_SIZE = 1 << 16


def _elf_layout(path: str) -> tuple[bytes, dict[str, int], dict[str, dict[str, int]]]:
    """(.BTF bytes, section sizes, {section: {symbol: offset}}) read from the ELF file."""
    from elftools.elf.elffile import ELFFile

    with open(path, "rb") as f:
        elf = ELFFile(f)
        btf = elf.get_section_by_name(".BTF")
        if btf is None:
            raise XdpError(f"{path}: no .BTF section; the kernel needs BTF for this program (build with -g)")
        sections = [s.name for s in elf.iter_sections()]
        sizes = {s.name: s["sh_size"] for s in elf.iter_sections()}
        offsets: dict[str, dict[str, int]] = {}
        symtab = elf.get_section_by_name(".symtab")
        for sym in symtab.iter_symbols() if symtab is not None else ():
            index = sym["st_shndx"]
            if isinstance(index, int) and 0 < index < len(sections):
                offsets.setdefault(sections[index], {})[sym.name] = sym["st_value"]
        return btf.data(), sizes, offsets


def fixup_datasecs(raw: bytes, sizes: dict[str, int], offsets: dict[str, dict[str, int]]) -> bytes:
    """The BTF as libbpf hands it to the kernel: DATASEC sizes and variable offsets filled in
    from the ELF layout, and externs made loadable.

    Externs (`__ksym` functions and variables, `.kconfig`) are what libbpf's
    bpf_object__collect_externs rewrites: an extern FUNC becomes global with its unnamed
    parameters named (the kernel's btf_func_check wants names), an extern VAR becomes an
    allocated global int of 4 bytes, and the extern DATASEC (no ELF section of its own)
    lists those variables 4 bytes apart -- its FUNC entries are dropped where libbpf points
    them at a dummy variable, and an extern DATASEC left empty becomes an empty anonymous
    STRUCT.  Any other FUNC's unnamed parameters (clang 14 drops the names of a __naked
    function's) are named after the function too.
    """
    data = bytes(raw)
    magic, ver, flags, hdr_len, type_off, type_len, str_off, str_len = BTF_HEADER.unpack_from(data, 0)
    if magic != 0xEB9F:
        raise XdpError("BTF: not little-endian BTF (bad magic)")
    strings_at = hdr_len + str_off

    def string(off: int) -> str:
        end = data.index(0, strings_at + off)
        return data[strings_at + off : end].decode()

    chunks: list[bytearray] = [bytearray()]  # chunks[type id]: its header and trailer bytes
    pos, end = hdr_len + type_off, hdr_len + type_off + type_len
    while pos < end:
        _name_off, info, _size = BTF_TYPE.unpack_from(data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind not in TRAILER:
            raise XdpError(f"BTF: type {len(chunks)} has unknown kind {kind}")
        fixed, per = TRAILER[kind]
        size = BTF_TYPE.size + fixed + per * vlen
        chunks.append(bytearray(data[pos : pos + size]))
        pos += size

    def header(type_id: int) -> tuple[int, int, int, int, int]:
        name_off, info, size_or_type = BTF_TYPE.unpack_from(chunks[type_id], 0)
        return name_off, info, (info >> 24) & 0x1F, info & 0xFFFF, size_or_type

    int4 = next((i for i in range(1, len(chunks)) if header(i)[2] == KIND_INT and header(i)[4] == 4), 0)
    for type_id in range(1, len(chunks)):
        name_off, info, kind, vlen, proto = header(type_id)
        if kind == KIND_FUNC:
            if vlen == FUNC_EXTERN:
                struct.pack_into("<I", chunks[type_id], 4, (info & ~0xFFFF) | FUNC_GLOBAL)
            _name_proto(chunks, proto, name_off)
        elif kind == KIND_VAR and struct.unpack_from("<I", chunks[type_id], BTF_TYPE.size)[0] == VAR_EXTERN and int4:
            struct.pack_into("<II", chunks[type_id], 8, int4, VAR_ALLOCATED)  # its type, its linkage
    for type_id in range(1, len(chunks)):
        name_off, info, kind, vlen, _size = header(type_id)
        if kind != KIND_DATASEC:
            continue
        section = string(name_off)
        infos = [list(SECINFO.unpack_from(chunks[type_id], BTF_TYPE.size + i * SECINFO.size)) for i in range(vlen)]
        if section in sizes:
            size = sizes[section]
            for record in infos:
                symbol = string(header(record[0])[0])
                if symbol in offsets.get(section, {}):
                    record[1] = offsets[section][symbol]
            infos.sort(key=lambda r: r[1])
        else:  # an extern section (.ksyms, .kconfig): variables only, 4 bytes apart
            infos = [[t, 4 * i, 4] for i, t in enumerate(r[0] for r in infos if header(r[0])[2] == KIND_VAR)]
            size = 4 * len(infos)
        if not infos and section not in sizes:
            chunks[type_id] = bytearray(BTF_TYPE.pack(0, KIND_STRUCT << 24, 0))
            continue
        body = b"".join(SECINFO.pack(*record) for record in infos)
        chunks[type_id] = bytearray(BTF_TYPE.pack(name_off, (info & ~0xFFFF) | len(infos), size) + body)
    types = b"".join(chunks)
    strings = data[strings_at : strings_at + str_len]
    head = BTF_HEADER.pack(magic, ver, flags, BTF_HEADER.size, 0, len(types), len(types), str_len)
    return head + types + strings


def _name_proto(chunks: list[bytearray], proto: int, name_off: int) -> None:
    """Unnamed parameters of a FUNC_PROTO get `name_off` (libbpf reuses one name for them all)."""
    _n, info, _r = BTF_TYPE.unpack_from(chunks[proto], 0)
    if (info >> 24) & 0x1F != KIND_FUNC_PROTO:
        return
    for i in range(info & 0xFFFF):
        at = BTF_TYPE.size + 8 * i
        param_name, param_type = struct.unpack_from("<II", chunks[proto], at)
        if param_type and not param_name:
            struct.pack_into("<I", chunks[proto], at, name_off)


class LoadedBtf:
    """A BTF object in the kernel (fd) with the func_info of one program."""

    def __init__(self, fd: int, func_info: bytes, count: int):
        self.fd = fd
        self.func_info = ctypes.create_string_buffer(func_info, max(len(func_info), 1))
        self.count = count

    def close(self) -> None:
        from .syscall import close_fd

        close_fd(self.fd)


def load_object_btf(obj) -> int:
    """The object's BTF (fixed up) loaded into the kernel: its fd (the caller closes it).
    As libbpf, without a log first (the kernel logs every type, which overflows any small
    buffer for a large BTF), and again with one to say why it was refused."""
    raw, sizes, offsets = _elf_layout(obj.path)
    blob = fixup_datasecs(raw, sizes, offsets)
    buf = ctypes.create_string_buffer(blob, len(blob))
    try:
        return bpf(Cmd.BTF_LOAD, BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(blob)), f"{obj.path}: BTF")
    except BpfError:
        pass
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(blob), btf_log_buf=ctypes.addressof(log),
                       btf_log_size=LOG_SIZE, btf_log_level=1)
    try:
        return bpf(Cmd.BTF_LOAD, attr, f"{obj.path}: BTF")
    except BpfError as err:
        lines = [line for line in log.value.decode(errors="replace").splitlines() if line.strip()]
        raise XdpError(f"{err}: {lines[-1] if lines else 'no log'}") from None


def load_btf(program: Program) -> LoadedBtf:
    """Load the program's object BTF (fixed up) and build its func_info records."""
    obj = program.object
    if obj is None or not program.func_info:
        raise XdpError(f"{program.name}: no BTF func_info in the object; the kernel needs it for this program")
    fd = load_object_btf(obj)
    records = b"".join(FUNC_INFO.pack(pc, type_id) for pc, type_id in sorted(program.func_info))
    return LoadedBtf(fd, records, len(program.func_info))
