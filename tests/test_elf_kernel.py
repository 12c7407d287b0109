"""Maps as the loader models them vs. maps the kernel creates from the same object.

`bpftool prog loadall` (libbpf) loads tests/data/elf/kernel_maps.c; the maps the
loaded program references are read back with `bpftool prog show` / `map show` and
compared field by field with `Object.maps`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from test_elf_loader import compiled
from xdptool.elf import load_object
from xdptool.elf.model import MapType

pytestmark = pytest.mark.kernel

BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10
# Flags the kernel adds on its own at map creation (kernel/bpf/devmap.c: dev_map_alloc).
KERNEL_ADDED_FLAGS = {MapType.DEVMAP: BPF_F_RDONLY_PROG, MapType.DEVMAP_HASH: BPF_F_RDONLY_PROG}


def bpftool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bpftool", *args], capture_output=True, text=True)


def libbpf_version() -> tuple[int, int]:
    m = re.search(r"libbpf v(\d+)\.(\d+)", bpftool("version").stdout)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


BPFFS = Path("/sys/fs/bpf")


def _is_bpffs() -> bool:
    mounts = Path("/proc/mounts").read_text().splitlines() if Path("/proc/mounts").exists() else []
    return any(line.split()[1:3] == [str(BPFFS), "bpf"] for line in mounts if len(line.split()) > 2)


def bpffs_unavailable() -> str | None:
    """None when a bpffs is mounted at /sys/fs/bpf; mounted here when root, as bpftool does."""
    if _is_bpffs():
        return None
    if os.geteuid() != 0:
        return f"bpffs is not mounted at {BPFFS} (mounting it needs root)"
    mounted = subprocess.run(["mount", "-t", "bpf", "bpf", str(BPFFS)], capture_output=True, text=True)
    if mounted.returncode == 0 and _is_bpffs():
        return None
    return f"bpffs is not mounted at {BPFFS} and mounting it failed: {mounted.stderr.strip() or mounted.returncode}"


@pytest.fixture
def pin_dir():
    if shutil.which("bpftool") is None:
        pytest.skip("bpftool is not installed")
    reason = bpffs_unavailable()
    if reason:
        pytest.skip(reason)
    path = Path(f"/sys/fs/bpf/xdptool_test_{os.getpid()}")
    shutil.rmtree(path, ignore_errors=True)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_maps_match_the_kernel(pin_dir, tmp_path):
    obj_path = tmp_path / "kmaps.o"
    obj_path.write_bytes(compiled("kernel_maps").read_bytes())
    model = load_object(obj_path)
    loaded = bpftool("prog", "loadall", str(obj_path), str(pin_dir), "type", "xdp")
    if loaded.returncode != 0:
        if "Operation not permitted" in loaded.stderr or "EPERM" in loaded.stderr:
            pytest.skip("bpftool prog loadall: the kernel refuses (no CAP_BPF / CAP_SYS_ADMIN)")
        pytest.fail(f"bpftool prog loadall failed: {loaded.stderr[-2000:]}")
    prog = json.loads(bpftool("prog", "show", "pinned", str(pin_dir / "k_main"), "-j").stdout)
    kernel_maps = [json.loads(bpftool("map", "show", "id", str(i), "-j").stdout) for i in prog["map_ids"]]

    old_libbpf = libbpf_version() < (1, 2)
    compared = set()
    for name, m in model.maps.items():
        if m.is_global_data:
            matches = [k for k in kernel_maps if k["name"].endswith(name[:15])]
        else:
            matches = [k for k in kernel_maps if k["name"] == name]
        if name == "k_inner" and not matches:
            continue
        assert len(matches) == 1, (name, [k["name"] for k in kernel_maps])
        k = matches[0]
        flags = m.flags | KERNEL_ADDED_FLAGS.get(m.type, 0)
        if old_libbpf and m.is_global_data:
            # libbpf < 1.2 made every global-data map mmapable; newer libbpf only those
            # with a non-static variable (map_is_mmapable), which the model follows.
            flags |= BPF_F_MMAPABLE
        assert (k["type"], k["bytes_key"], k["bytes_value"], k["max_entries"], k["flags"]) == (
            m.type_name, m.key_size, m.value_size, m.max_entries, flags), name  # fmt: skip
        compared.add(name)
    assert compared >= {"k_hash", "k_percpu_hash", "k_lru", "k_lpm", "k_outer", "k_progs", "k_devmap",
                        "k_ringbuf", "k_queue", ".data", ".rodata", ".bss", ".data.priv"}  # fmt: skip
    assert model.maps[".data.priv"].flags & BPF_F_MMAPABLE == 0  # only a static variable inside
    assert model.maps[".data"].flags & BPF_F_MMAPABLE
