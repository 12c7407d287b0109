"""Every example program loads through xdptool's bpf(2) path exactly as libbpf (bpftool) loads it.

Oracle: `bpftool prog load` of the same object (libbpf's relocation).  The kernel's
program tag is a hash of the translated instructions with map fds blanked, so
equal tags mean xdptool produced the same instructions; the verifier's processed
instruction counts must match too.  xdptool's ELF loader appends subprograms in
libbpf's depth-first call-discovery order, so the tags are equal for every example.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from xdptool import toolchain
from xdptool.elf import load_object
from xdptool.elf.model import RelocKind
from xdptool.kernel.load import load_program
from xdptool.kernel.maps import KernelMaps
from xdptool.kernel.probe import kernel_unavailable_reason
from xdptool.kernel.syscall import ProgInfo, close_fd, get_info, obj_get

_REASON = kernel_unavailable_reason()
pytestmark = [pytest.mark.kernel, pytest.mark.skipif(_REASON is not None, reason=f"kernel: {_REASON}")]

PROGRAMS = Path(__file__).resolve().parent.parent / "programs"
SOURCES = sorted(PROGRAMS.glob("*.c"))
BPFTOOL = shutil.which("bpftool") or ("/usr/sbin/bpftool" if os.path.exists("/usr/sbin/bpftool") else None)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    out = tmp_path_factory.mktemp("objs")
    return {src.stem: str(toolchain.build(src, out / f"{src.stem}.o").output) for src in SOURCES}


def libbpf_load(path: str) -> ProgInfo:
    """bpftool (libbpf) loads the object; its program info, read through the pin, then unpinned."""
    pin = f"/sys/fs/bpf/xdptool_test_{os.getpid()}"
    subprocess.run([BPFTOOL, "prog", "load", path, pin], check=True, capture_output=True)
    try:
        fd = obj_get(pin)
    finally:
        os.unlink(pin)
    try:
        return get_info(fd, ProgInfo)
    finally:
        close_fd(fd)


def call_order(program) -> list[str]:
    """Subprogram names in libbpf's order: depth-first by first reference, starting at the entry."""
    order: list[str] = []

    def visit(sub) -> None:
        order.append(sub.name)
        for insn in program.insns:
            if not sub.start <= insn.pc < sub.end:
                continue
            if insn.is_local_call:
                target = insn.target
            elif insn.reloc is not None and insn.reloc.kind == RelocKind.FUNC:  # callback address
                target = insn.reloc.offset
            else:
                continue
            callee = program.subprogram_of(target)
            if callee.name not in order:
                visit(callee)

    visit(program.subprograms[0])
    return order


@pytest.mark.skipif(BPFTOOL is None, reason="bpftool is not installed")
@pytest.mark.parametrize("name", [s.stem for s in SOURCES])
def test_example_loads_like_libbpf(name, objects):
    obj = load_object(objects[name])
    program = obj.program()
    reference = libbpf_load(objects[name])
    with KernelMaps(obj.maps) as kmaps, load_program(program, kmaps.fds()) as loaded:
        ours = get_info(loaded.fd, ProgInfo)
    assert ours.xlated_prog_len == reference.xlated_prog_len
    assert ours.verified_insns == reference.verified_insns == loaded.insn_processed
    assert call_order(program) == [s.name for s in program.subprograms]
    assert bytes(ours.tag) == bytes(reference.tag)  # the very instructions libbpf loads


@pytest.mark.parametrize("name", [s.stem for s in SOURCES])
def test_example_loads_with_btf_too(name, objects):
    """The BTF path (DATASEC fixup + func_info) is accepted for every example."""
    obj = load_object(objects[name])
    with KernelMaps(obj.maps) as kmaps, load_program(obj.program(), kmaps.fds(), use_btf=True) as loaded:
        assert get_info(loaded.fd, ProgInfo).btf_id != 0


def test_no_pins_left_behind():
    leftovers = [p for p in os.listdir("/sys/fs/bpf") if p.startswith("xdptool_")] if os.path.isdir("/sys/fs/bpf") else []
    assert leftovers == []
