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
KIND_VAR, KIND_DATASEC = 14, 15
# kind -> (fixed trailer bytes, bytes per vlen entry)
TRAILER = {
    1: (4, 0), 2: (0, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 7: (0, 0), 8: (0, 0),
    9: (0, 0), 10: (0, 0), 11: (0, 0), 12: (0, 0), 13: (0, 8), 14: (4, 0), 15: (0, 12), 16: (0, 0),
    17: (4, 0), 18: (0, 0), 19: (0, 12),
}
FUNC_INFO = struct.Struct("<II")  # struct bpf_func_info: insn_off, type_id
VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
_VMLINUX: dict = {}  # the running kernel's BTF, parsed once per process


def vmlinux_func_id(name: str) -> int:
    """The BTF id of the running kernel's function `name`, as libbpf resolves a kfunc
    (an extern __ksym function); a name the kernel does not have is refused in libbpf's words."""
    from ..elf.btf import BTF, Kind

    btf = _VMLINUX.get("btf")
    if btf is None:
        try:
            with open(VMLINUX_BTF, "rb") as file:
                btf = _VMLINUX["btf"] = BTF(file.read())
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
    """The BTF with DATASEC sizes and variable offsets filled in from the ELF layout."""
    data = bytearray(raw)
    magic, _ver, _flags, hdr_len, type_off, type_len, str_off, _str_len = BTF_HEADER.unpack_from(data, 0)
    if magic != 0xEB9F:
        raise XdpError("BTF: not little-endian BTF (bad magic)")
    strings_at = hdr_len + str_off

    def string(off: int) -> str:
        end = data.index(0, strings_at + off)
        return data[strings_at + off : end].decode()

    pos, end = hdr_len + type_off, hdr_len + type_off + type_len
    var_names: dict[int, str] = {}
    type_id = 1
    while pos < end:
        name_off, info, _size = BTF_TYPE.unpack_from(data, pos)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        if kind not in TRAILER:
            raise XdpError(f"BTF: type {type_id} has unknown kind {kind}")
        fixed, per = TRAILER[kind]
        body = pos + BTF_TYPE.size
        if kind == KIND_VAR:
            var_names[type_id] = string(name_off)
        elif kind == KIND_DATASEC:
            section = string(name_off)
            if section in sizes:
                struct.pack_into("<I", data, pos + 8, sizes[section])
            infos = [list(SECINFO.unpack_from(data, body + i * SECINFO.size)) for i in range(vlen)]
            for record in infos:
                symbol = var_names.get(record[0])
                if symbol in offsets.get(section, {}):
                    record[1] = offsets[section][symbol]
            for i, record in enumerate(sorted(infos, key=lambda r: r[1])):
                SECINFO.pack_into(data, body + i * SECINFO.size, *record)
        pos = body + fixed + per * vlen
        type_id += 1
    return bytes(data)


class LoadedBtf:
    """A BTF object in the kernel (fd) with the func_info of one program."""

    def __init__(self, fd: int, func_info: bytes, count: int):
        self.fd = fd
        self.func_info = ctypes.create_string_buffer(func_info, max(len(func_info), 1))
        self.count = count

    def close(self) -> None:
        from .syscall import close_fd

        close_fd(self.fd)


def load_btf(program: Program) -> LoadedBtf:
    """Load the program's object BTF (fixed up) and build its func_info records."""
    obj = program.object
    if obj is None or not program.func_info:
        raise XdpError(f"{program.name}: no BTF func_info in the object; the kernel needs it for this program")
    raw, sizes, offsets = _elf_layout(obj.path)
    blob = fixup_datasecs(raw, sizes, offsets)
    buf = ctypes.create_string_buffer(blob, len(blob))
    log = ctypes.create_string_buffer(LOG_SIZE)
    attr = BtfLoadAttr(btf=ctypes.addressof(buf), btf_size=len(blob), btf_log_buf=ctypes.addressof(log),
                       btf_log_size=LOG_SIZE, btf_log_level=1)
    try:
        fd = bpf(Cmd.BTF_LOAD, attr, f"{obj.path}: BTF")
    except BpfError as err:
        lines = [line for line in log.value.decode(errors="replace").splitlines() if line.strip()]
        raise XdpError(f"{err}: {lines[-1] if lines else 'no log'}") from None
    records = b"".join(FUNC_INFO.pack(pc, type_id) for pc, type_id in sorted(program.func_info))
    return LoadedBtf(fd, records, len(program.func_info))
