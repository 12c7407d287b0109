"""Hostile inputs made from our own data, for tests/test_hardening.py and tests/fuzz/.

ELF objects are patched through a small reader of the section and symbol tables
written here with `struct` (independent of xdptool.elf); capture files come from
test_pcap_builders; packets, specs and map files from programs/.  Nothing here
imports the code under test except to run it (`cli_run`), so expectations are not
produced by it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "programs"

SHDR = struct.Struct("<IIQQQQIIQQ")  # Elf64_Shdr: name type flags addr offset size link info addralign entsize
SYM = struct.Struct("<IBBHQQ")  # Elf64_Sym: name info other shndx value size
SHT_SYMTAB, SHF_EXECINSTR = 2, 0x4
# A UDP packet to port 53 with explicit addresses: what every example program parses.
UDP_PACKET = bytes.fromhex("02000000000202000000000108004500001c00010000401166ce0a0000010a00000214e900350008d6bd")


@dataclass
class Section:
    index: int
    name: str
    type: int
    flags: int
    header: int  # file offset of its Elf64_Shdr
    offset: int  # file offset of its contents
    size: int


def sections(data: bytes) -> list[Section]:
    """The section table of a little-endian ELF64 object."""
    shoff = struct.unpack_from("<Q", data, 40)[0]
    shnum, shstrndx = struct.unpack_from("<HH", data, 60)
    raw = [SHDR.unpack_from(data, shoff + i * SHDR.size) for i in range(shnum)]
    names = data[raw[shstrndx][4] : raw[shstrndx][4] + raw[shstrndx][5]]
    return [Section(i, names[h[0] : names.index(b"\0", h[0])].decode(), h[1], h[2], shoff + i * SHDR.size, h[4], h[5])
            for i, h in enumerate(raw)]


def section(data: bytes, name: str) -> Section:
    return next(s for s in sections(data) if s.name == name)


def code_sections(data: bytes) -> list[Section]:
    return [s for s in sections(data) if s.flags & SHF_EXECINSTR and s.size]


def symbols(data: bytes) -> tuple[int, int]:
    """(file offset, count) of the symbol table's entries."""
    symtab = next(s for s in sections(data) if s.type == SHT_SYMTAB)
    return symtab.offset, symtab.size // SYM.size


def patched(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def with_insn(data: bytes, section_name: str, slot: int, *, code: int | None = None, regs: int | None = None) -> bytes:
    """The object with one instruction's opcode byte or register byte (src << 4 | dst) replaced."""
    at = section(data, section_name).offset + 8 * slot
    if code is not None:
        data = patched(data, at, "<B", code)
    if regs is not None:
        data = patched(data, at + 1, "<B", regs)
    return data


def with_symbol_binding(data: bytes, index: int, bind: int) -> bytes:
    """The object with symbol `index` given ELF binding `bind` (st_info's high nibble)."""
    offset, count = symbols(data)
    assert 0 <= index < count
    at = offset + index * SYM.size + 4
    return patched(data, at, "<B", bind << 4 | data[at] & 0xF)


def cli_run(*args, env: dict | None = None):
    """`xdptool ARGS` in this process; the CLI's own exception handling included."""
    from xdptool.cli.main import cli

    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def assert_handled(result, codes=(0, 1, 2)) -> None:
    """Exit code in `codes`; no traceback, no exception escaping the CLI's handling."""
    detail = (result.exit_code, result.output[-2000:], repr(result.exception))
    assert result.exit_code in codes, detail
    assert "Traceback" not in result.output, detail
    assert result.exception is None or isinstance(result.exception, SystemExit), detail
