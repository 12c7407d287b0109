"""The Linux kernel as an engine and as the oracle, through bpf(2) and ctypes.

Modules: `syscall` (bpf_attr layouts, errno messages), `maps` (create/read/write
kernel maps), `load` (relocation and PROG_LOAD with the verifier log), `testrun`
(BPF_PROG_TEST_RUN), `engine` (KernelEngine, the `kernel` target), `probe` (why
the kernel cannot be used here), `verify` (verify_with_kernel), `conformance`
(bpf_conformance programs wrapped as XDP).

Facts measured on Linux 6.18 as root and asserted by tests/test_kernel_facts.py:

- BPF_PROG_TEST_RUN refuses XDP packets shorter than ETH_HLEN (14 bytes) with EINVAL.
- XDP_TX and XDP_REDIRECT (and any other return value, unchecked) come back as the
  retval; nothing is transmitted or redirected, data_out is the packet as left.
- bpf_redirect(ifindex, flags) returns XDP_REDIRECT for flags 0 and XDP_ABORTED for
  any other flags.  bpf_redirect_map on an absent devmap key (empty slot or out of
  range) returns `flags & 3` (BPF_F_ACTION_MASK: the fallback action, XDP_ABORTED for
  flags 0); on a present key XDP_REDIRECT.
- data_out reflects adjust_head/adjust_tail: a grown front or tail reads as zeros;
  adjust_head beyond the 256-byte headroom, or leaving fewer than 14 bytes, and
  adjust_tail beyond the frame are refused (-EINVAL to the program), packet unchanged.
- Per-CPU maps hold one value per *possible* CPU (/sys/devices/system/cpu/possible),
  each rounded up to 8 bytes; a test run updates the copy of the CPU it runs on, so
  the engine pins itself to the configured CPU while running.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KernelEngine", "KernelVerdict", "kernel_unavailable_reason", "verify_with_kernel"]

_EXPORTS = {
    "KernelEngine": "engine",
    "KernelVerdict": "verify",
    "verify_with_kernel": "verify",
    "kernel_unavailable_reason": "probe",
}


def __getattr__(name: str) -> Any:
    """Lazy re-exports, so `import xdptool.kernel` stays cheap."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
