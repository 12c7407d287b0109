"""The object's BTF as libbpf hands it to the kernel (extern kfuncs and ksyms, clang's unnamed
parameters), maps created with it, and ring buffer sizes as libbpf passes them.

The fixed-up BTF is checked by reading it back; with CAP_BPF the running kernel must also
accept it (BTF_LOAD) and create a map that exists only with BTF (sk_storage)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xdptool.elf import load_object
from xdptool.elf.btf import BTF, Kind
from xdptool.kernel import kernel_unavailable_reason
from xdptool.kernel.btf import _elf_layout, fixup_datasecs, load_object_btf
from xdptool.kernel.maps import PAGE_SIZE, KernelMaps, ringbuf_size

KFUNCS = Path(__file__).resolve().parent / "data" / "verifier" / "kfuncs.c"
NO_KERNEL = kernel_unavailable_reason()
needs_kernel = pytest.mark.skipif(NO_KERNEL is not None, reason=NO_KERNEL or "")

STORAGE = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_SK_STORAGE); __uint(map_flags, BPF_F_NO_PREALLOC);
         __type(key, int); __type(value, long); } store SEC(".maps");
SEC("xdp") int prog(struct xdp_md *ctx) { return XDP_PASS; }
char _license[] SEC("license") = "GPL";
"""


def _build(source: Path, out: Path) -> Path:
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed")
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", '-DLICENSE="GPL"',
                    "-c", str(source), "-o", str(out)], check=True)
    return out


@pytest.mark.parametrize("size, expected", [(0, 0), (8, PAGE_SIZE), (PAGE_SIZE, PAGE_SIZE),
                                            (2 * PAGE_SIZE, 2 * PAGE_SIZE), (3 * PAGE_SIZE, 4 * PAGE_SIZE),
                                            (PAGE_SIZE + 1, 2 * PAGE_SIZE)])
def test_ringbuf_size_is_a_power_of_two_pages(size, expected):
    assert ringbuf_size(size) == expected


def test_externs_become_loadable(tmp_path):
    obj = _build(KFUNCS, tmp_path / "kfuncs.o")
    before = BTF(_elf_layout(str(obj))[0])
    externs = [t for t in before.types if t.kind is Kind.FUNC and t.linkage == 2]
    assert externs, "kfuncs.c declares its kfuncs extern"
    after = BTF(fixup_datasecs(*_elf_layout(str(obj))))
    assert len(after.types) == len(before.types)  # ids unchanged: only contents were rewritten
    for extern in externs:
        func = after.types[extern.id]
        assert func.linkage == 1
        assert all(p.name for p in after.types[func.type].members if p.type)
    for sec in (t for t in after.types if t.kind is Kind.DATASEC):
        assert all(after.types[m.type].kind is Kind.VAR for m in sec.members)
    assert not [t for t in after.types if t.kind is Kind.VAR and t.linkage == 2]


@needs_kernel
def test_kernel_accepts_the_fixed_up_btf(tmp_path):
    obj = load_object(str(_build(KFUNCS, tmp_path / "kfuncs.o")))
    fd = load_object_btf(obj)
    assert fd > 0
    import os

    os.close(fd)


@needs_kernel
def test_maps_are_created_with_the_objects_btf(tmp_path):
    source = tmp_path / "storage.c"
    source.write_text(STORAGE)
    obj = load_object(str(_build(source, tmp_path / "storage.o")))
    with KernelMaps(obj.maps, obj) as kmaps:  # sk_storage exists only with BTF
        assert kmaps["store"].fd > 0
    with pytest.raises(Exception, match="MAP_CREATE"):
        KernelMaps(obj.maps)
