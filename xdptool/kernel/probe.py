"""Can this process use bpf(2)?  A reason string when not, None when it can.

Checked in the order a user can act on: a non-Linux system or unknown syscall
number, lockdown in confidentiality mode (which refuses bpf reads), missing
privileges (root or CAP_BPF + CAP_NET_ADMIN for XDP, or unprivileged bpf
disabled), and finally a trial map create, which catches seccomp filters,
containers and anything else the kernel refuses.
"""

from __future__ import annotations

import functools
import os
import platform

from ..errors import XdpError

UNPRIV_FILE = "/proc/sys/kernel/unprivileged_bpf_disabled"
LOCKDOWN_FILE = "/sys/kernel/security/lockdown"
CAP_NET_ADMIN = 12
CAP_SYS_ADMIN = 21
CAP_BPF = 39


class KernelUnavailable(XdpError):
    """The kernel target cannot be used here; the message says why."""


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def effective_capabilities() -> int:
    """CapEff of this process, from /proc/self/status."""
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def lockdown_mode() -> str | None:
    """The active lockdown mode ("none", "integrity", "confidentiality") if reported."""
    text = _read(LOCKDOWN_FILE)
    if not text:
        return None
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return None


def _privilege_reason() -> str | None:
    caps = effective_capabilities()
    has_bpf = caps & (1 << CAP_BPF) or caps & (1 << CAP_SYS_ADMIN)
    if has_bpf and caps & (1 << CAP_NET_ADMIN | 1 << CAP_SYS_ADMIN):
        return None
    unpriv = _read(UNPRIV_FILE)
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()}"
    hint = f" and {UNPRIV_FILE} is {unpriv}" if unpriv not in (None, "0") else ""
    return f"running as {who} without CAP_BPF/CAP_SYS_ADMIN and CAP_NET_ADMIN{hint}; run as root or grant the capabilities"


def _trial_map() -> str | None:
    from ..elf.model import MapDef, MapType
    from .maps import KernelMap

    try:
        KernelMap.create(MapDef("xdptool_probe", MapType.ARRAY, 4, 4, 1)).close()
    except XdpError as err:
        return f"a trial map create failed: {err}"
    return None


def _platform_reason() -> str | None:
    if platform.system() != "Linux":
        return f"the kernel target needs Linux, this is {platform.system()}"
    from .syscall import SYSCALL_NUMBERS

    if platform.machine().lower() not in SYSCALL_NUMBERS:
        return f"bpf(2) syscall number unknown on {platform.machine()}"
    return None


def _lockdown_reason() -> str | None:
    if lockdown_mode() == "confidentiality":
        return f"kernel lockdown is in confidentiality mode ({LOCKDOWN_FILE}), which refuses bpf"
    return None


CHECKS = (_platform_reason, _lockdown_reason, _privilege_reason, _trial_map)


@functools.cache
def kernel_unavailable_reason() -> str | None:
    """Why bpf(2) cannot be used for the kernel target, or None if it can."""
    for check in CHECKS:
        reason = check()
        if reason:
            return reason
    return None


def require_kernel() -> None:
    """Raise KernelUnavailable (exit 2) naming the reason when the kernel target cannot run."""
    reason = kernel_unavailable_reason()
    if reason:
        raise KernelUnavailable(f"--target kernel is unavailable: {reason}")
