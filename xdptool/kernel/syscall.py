"""The bpf(2) system call through ctypes: `union bpf_attr` layouts and errno messages.

Only the commands xdptool uses are declared, each as its own ctypes structure
laid out like the matching member of `union bpf_attr` in uapi/linux/bpf.h (the
kernel accepts a shorter attr than it knows, as long as it is not longer with
non-zero tail bytes).  Every failure becomes a `BpfError` (an XdpError) naming
the command and the errno in words; no compiled extension is involved.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os
import platform

from ..errors import XdpError
from ..platform.ctx import XDP_MD

# syscall numbers by machine (arch/x86/entry/syscalls/syscall_64.tbl,
# include/uapi/asm-generic/unistd.h for the generic table used by arm64/riscv).
SYSCALL_NUMBERS = {
    "x86_64": 321,
    "amd64": 321,
    "aarch64": 280,
    "arm64": 280,
    "riscv64": 280,
    "i386": 357,
    "i686": 357,
    "ppc64le": 361,
    "s390x": 351,
}

BPF_OBJ_NAME_LEN = 16
ENOTSUPP = 524  # kernel-internal errno that leaks out of bpf(2) ("Unknown error 524")


class Cmd(enum.IntEnum):
    """enum bpf_cmd (the commands used here)."""

    MAP_CREATE = 0
    MAP_LOOKUP_ELEM = 1
    MAP_UPDATE_ELEM = 2
    MAP_DELETE_ELEM = 3
    MAP_GET_NEXT_KEY = 4
    PROG_LOAD = 5
    OBJ_GET = 7
    PROG_TEST_RUN = 10
    OBJ_GET_INFO_BY_FD = 15
    BTF_LOAD = 18
    MAP_FREEZE = 22


# map_flags (uapi/linux/bpf.h)
BPF_F_NO_PREALLOC = 1 << 0
BPF_F_RDONLY_PROG = 1 << 7
BPF_F_MMAPABLE = 1 << 10

# prog_flags
BPF_F_XDP_HAS_FRAGS = 1 << 5

# element update flags
BPF_ANY = 0
BPF_NOEXIST = 1
BPF_EXIST = 2

# ld_imm64 src_reg values (BPF_PSEUDO_*)
BPF_PSEUDO_MAP_FD = 1
BPF_PSEUDO_MAP_VALUE = 2
BPF_PSEUDO_FUNC = 4
BPF_PSEUDO_KFUNC_CALL = 2  # a call's src: imm is a kernel function's BTF id

u32 = ctypes.c_uint32
u64 = ctypes.c_uint64


class _Attr(ctypes.Structure):
    """Base: every attr struct is passed by pointer together with its size."""

    def address(self) -> int:
        return ctypes.addressof(self)


class MapCreateAttr(_Attr):
    _fields_ = [
        ("map_type", u32),
        ("key_size", u32),
        ("value_size", u32),
        ("max_entries", u32),
        ("map_flags", u32),
        ("inner_map_fd", u32),
        ("numa_node", u32),
        ("map_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("map_ifindex", u32),
        ("btf_fd", u32),
        ("btf_key_type_id", u32),
        ("btf_value_type_id", u32),
        ("btf_vmlinux_value_type_id", u32),
        ("map_extra", u64),
    ]


class MapElemAttr(_Attr):
    """MAP_{LOOKUP,UPDATE,DELETE}_ELEM, MAP_GET_NEXT_KEY (value = next_key) and MAP_FREEZE."""

    _fields_ = [("map_fd", u32), ("key", u64), ("value", u64), ("flags", u64)]


class ProgLoadAttr(_Attr):
    _fields_ = [
        ("prog_type", u32),
        ("insn_cnt", u32),
        ("insns", u64),
        ("license", u64),
        ("log_level", u32),
        ("log_size", u32),
        ("log_buf", u64),
        ("kern_version", u32),
        ("prog_flags", u32),
        ("prog_name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("prog_ifindex", u32),
        ("expected_attach_type", u32),
        ("prog_btf_fd", u32),
        ("func_info_rec_size", u32),
        ("func_info", u64),
        ("func_info_cnt", u32),
        ("line_info_rec_size", u32),
        ("line_info", u64),
        ("line_info_cnt", u32),
        ("attach_btf_id", u32),
        ("attach_prog_fd", u32),
        ("core_relo_cnt", u32),
        ("fd_array", u64),
        ("core_relos", u64),
        ("core_relo_rec_size", u32),
        ("log_true_size", u32),
    ]


class TestRunAttr(_Attr):
    __test__ = False  # not a pytest class
    _fields_ = [
        ("prog_fd", u32),
        ("retval", u32),
        ("data_size_in", u32),
        ("data_size_out", u32),
        ("data_in", u64),
        ("data_out", u64),
        ("repeat", u32),
        ("duration", u32),
        ("ctx_size_in", u32),
        ("ctx_size_out", u32),
        ("ctx_in", u64),
        ("ctx_out", u64),
        ("flags", u32),
        ("cpu", u32),
        ("batch_size", u32),
    ]


class ObjAttr(_Attr):
    """BPF_OBJ_PIN / BPF_OBJ_GET: a path under a bpffs mount."""

    _fields_ = [("pathname", u64), ("bpf_fd", u32), ("file_flags", u32)]


class InfoAttr(_Attr):
    _fields_ = [("bpf_fd", u32), ("info_len", u32), ("info", u64)]


class BtfLoadAttr(_Attr):
    _fields_ = [
        ("btf", u64),
        ("btf_log_buf", u64),
        ("btf_size", u32),
        ("btf_log_size", u32),
        ("btf_log_level", u32),
        ("btf_log_true_size", u32),
    ]


class XdpMd(ctypes.Structure):
    """struct xdp_md: the ctx_in/ctx_out of an XDP test run."""

    _fields_ = [(field.name, u32) for field in XDP_MD]


class ProgInfo(ctypes.Structure):
    """struct bpf_prog_info, up to the fields xdptool reads (verified_insns)."""

    _fields_ = [
        ("type", u32),
        ("id", u32),
        ("tag", ctypes.c_uint8 * 8),
        ("jited_prog_len", u32),
        ("xlated_prog_len", u32),
        ("jited_prog_insns", u64),
        ("xlated_prog_insns", u64),
        ("load_time", u64),
        ("created_by_uid", u32),
        ("nr_map_ids", u32),
        ("map_ids", u64),
        ("name", ctypes.c_char * BPF_OBJ_NAME_LEN),
        ("ifindex", u32),
        ("gpl_compatible", u32),
        ("netns_dev", u64),
        ("netns_ino", u64),
        ("nr_jited_ksyms", u32),
        ("nr_jited_func_lens", u32),
        ("jited_ksyms", u64),
        ("jited_func_lens", u64),
        ("btf_id", u32),
        ("func_info_rec_size", u32),
        ("func_info", u64),
        ("nr_func_info", u32),
        ("nr_line_info", u32),
        ("line_info", u64),
        ("jited_line_info", u64),
        ("nr_jited_line_info", u32),
        ("line_info_rec_size", u32),
        ("jited_line_info_rec_size", u32),
        ("nr_prog_tags", u32),
        ("prog_tags", u64),
        ("run_time_ns", u64),
        ("run_cnt", u64),
        ("recursion_misses", u64),
        ("verified_insns", u32),
    ]


class MapInfo(ctypes.Structure):
    """struct bpf_map_info (leading fields)."""

    _fields_ = [
        ("type", u32),
        ("id", u32),
        ("key_size", u32),
        ("value_size", u32),
        ("max_entries", u32),
        ("map_flags", u32),
        ("name", ctypes.c_char * BPF_OBJ_NAME_LEN),
    ]


# errno -> what it usually means for bpf(2); per-command wording overrides the generic one.
_GENERIC_MEANING = {
    errno.EPERM: "operation not permitted (needs root or CAP_BPF, and no lockdown)",
    errno.EACCES: "permission denied (the verifier refused the program)",
    errno.EINVAL: "invalid argument (the kernel rejected the attributes)",
    errno.E2BIG: "argument too big",
    errno.ENOMEM: "out of memory (lower max_entries, or raise RLIMIT_MEMLOCK on old kernels)",
    errno.ENOENT: "no such entry",
    errno.EEXIST: "entry exists",
    errno.ENOSPC: "no space left (buffer or map full)",
    errno.EBADF: "bad file descriptor",
    errno.EFAULT: "bad address",
    errno.ENOSYS: "bpf(2) is not available on this kernel",
    errno.EOPNOTSUPP: "operation not supported",
    errno.EBUSY: "busy",
    errno.ENOTSUP: "not supported",
    ENOTSUPP: "not supported by this kernel",
}
_COMMAND_MEANING = {
    (Cmd.MAP_CREATE, errno.EINVAL): "invalid map attributes (type, sizes or flags)",
    (Cmd.MAP_CREATE, errno.ENOMEM): "map too large for kernel memory",
    (Cmd.MAP_LOOKUP_ELEM, errno.ENOENT): "no such key",
    (Cmd.MAP_DELETE_ELEM, errno.ENOENT): "no such key",
    (Cmd.MAP_GET_NEXT_KEY, errno.ENOENT): "no more keys",
    (Cmd.MAP_UPDATE_ELEM, errno.E2BIG): "map is full (max_entries reached)",
    (Cmd.MAP_UPDATE_ELEM, errno.EPERM): "map is read-only (frozen or BPF_F_RDONLY)",
    (Cmd.PROG_LOAD, errno.EINVAL): "the kernel rejected the program",
    (Cmd.PROG_LOAD, errno.ENOSPC): "the verifier log did not fit the log buffer",
    (Cmd.PROG_TEST_RUN, errno.EINVAL): "invalid test-run input (an XDP packet needs at least 14 bytes)",
    (Cmd.PROG_TEST_RUN, errno.ENOSPC): "output buffer too small",
}


def errno_meaning(cmd: Cmd, err: int) -> str:
    """The errno in words for this command, falling back to strerror."""
    meaning = _COMMAND_MEANING.get((cmd, err)) or _GENERIC_MEANING.get(err)
    name = errno.errorcode.get(err, "ENOTSUPP" if err == ENOTSUPP else str(err))
    return f"{meaning or os.strerror(err)} [{name}]"


class BpfError(XdpError):
    """bpf(2) failed: the command, errno and (for PROG_LOAD) the verifier log."""

    def __init__(self, cmd: Cmd, err: int, detail: str = "", log: str = ""):
        self.cmd = cmd
        self.errno = err
        self.log = log
        what = f"bpf({cmd.name}) failed: {errno_meaning(cmd, err)}"
        super().__init__(f"{detail}: {what}" if detail else what)


def _syscall_number() -> int:
    machine = platform.machine().lower()
    try:
        return SYSCALL_NUMBERS[machine]
    except KeyError:
        raise XdpError(f"the kernel target does not know the bpf(2) syscall number on {machine}") from None


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_SYS_BPF: int | None = None


def bpf(cmd: Cmd, attr: _Attr, detail: str = "") -> int:
    """Call bpf(cmd, &attr, sizeof attr); the non-negative result or a BpfError."""
    global _SYS_BPF
    if _SYS_BPF is None:
        _SYS_BPF = _syscall_number()
    ret = _libc.syscall(
        ctypes.c_long(_SYS_BPF), ctypes.c_long(cmd), ctypes.c_void_p(attr.address()), ctypes.c_uint(ctypes.sizeof(attr))
    )
    if ret < 0:
        raise BpfError(cmd, ctypes.get_errno(), detail)
    return ret


def close_fd(fd: int) -> None:
    """Close a bpf object fd, ignoring an fd that is already gone."""
    try:
        os.close(fd)
    except OSError:
        pass


def buffer_address(buf: ctypes.Array | None) -> int:
    return ctypes.addressof(buf) if buf is not None else 0


def obj_name(name: str) -> bytes:
    """The kernel accepts [A-Za-z0-9_.] in object names, at most 15 bytes."""
    clean = "".join(c if c.isalnum() or c in "_." else "_" for c in name)
    return clean.encode()[: BPF_OBJ_NAME_LEN - 1]


def get_info(fd: int, info_type: type[ctypes.Structure]) -> ctypes.Structure:
    """OBJ_GET_INFO_BY_FD into a zeroed `info_type` (the kernel fills what it knows)."""
    info = info_type()
    attr = InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info), info=ctypes.addressof(info))
    bpf(Cmd.OBJ_GET_INFO_BY_FD, attr)
    return info


def obj_get(path: str) -> int:
    """An fd for the object pinned at `path` (bpffs)."""
    name = ctypes.create_string_buffer(path.encode())
    return bpf(Cmd.OBJ_GET, ObjAttr(pathname=ctypes.addressof(name)), path)
