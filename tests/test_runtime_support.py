"""Shared builders for the runtime tests (no tests here).

`xdp(asm, maps)` assembles llvm-syntax text into an XDP `Program`; a line
`rN = map:NAME` loads map NAME's handle and `rN = value:NAME+OFF` the address of its
value (global data), as libbpf relocations would.
"""

from __future__ import annotations

import re

from xdptool.ebpf.asm import assemble
from xdptool.elf.model import MapDef, MapType
from xdptool.kernel.synthetic import map_ref, synthetic_program
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

_REF = re.compile(r"^(\s*r\d+)\s*=\s*(map|value):([\w.]+?)(?:\+(\d+))?\s*$")


def xdp(asm: str, maps: list[MapDef] = (), name: str = "prog"):
    refs = []
    lines = []
    for line in asm.splitlines():
        m = _REF.match(line)
        if m:
            refs.append((m.group(3), None if m.group(2) == "map" else int(m.group(4) or 0)))
            line = f"{m.group(1)} = 0 ll"
        lines.append(line)
    insns = assemble("\n".join(lines))
    wide = [i for i in insns if i.is_ld_imm64]
    for insn, (map_name, offset) in zip([i for i in wide if i.imm64 == 0][: len(refs)], refs):
        map_ref(insn, map_name, offset)
    return synthetic_program(insns, list(maps), name=name)


def vm(asm: str, maps: list[MapDef] = (), config: RuntimeConfig | None = None, **kw):
    """(engine, store) for a program given as text."""
    program = xdp(asm, maps)
    store = MapStore(program.object.maps, config)
    return VmEngine(program, store, config, **kw), store


def array(name="arr", value_size=8, max_entries=4, **kw) -> MapDef:
    return MapDef(name, MapType.ARRAY, 4, value_size, max_entries, **kw)


def hash_map(name="h", key_size=4, value_size=8, max_entries=4, type=MapType.HASH) -> MapDef:
    return MapDef(name, type, key_size, value_size, max_entries)


def u32(n: int) -> bytes:
    return (n & 0xFFFFFFFF).to_bytes(4, "little")


def u64(n: int) -> bytes:
    return (n & (1 << 64) - 1).to_bytes(8, "little")


PACKET = bytes.fromhex("ffffffffffff020000000001080045000020000100004011f97f0a0000010a000002") + bytes(20)
