"""Platform profiles as data: who loads the program and what the target accepts.

`linux` is a privileged load on a current kernel (CAP_BPF + CAP_PERFMON: bounded
loops, pointer comparisons, uninitialised stack reads and pointer leaks allowed);
`unprivileged` is the same kernel with those allowances off; `nfp` is the
privileged kernel loading a program offloaded to a Netronome card: only the
helpers the driver supports, what the kernel core allows offloaded programs only
(writing xdp_md.rx_queue_index), and the driver's own checks (nfp_rules) against
a firmware (platform/nfp_driver.py FIRMWARES).
"""


from typing import Any, Mapping, NamedTuple

from ..errors import XdpError
from ..platform import ctx as xdp_ctx
from ..platform.helpers import NFP_HELPERS, XDP_HELPERS, Helper, helper_name


def _linux_refusal(func_id: int) -> str:
    return f"program of this type cannot use helper {helper_name(func_id)}#{func_id}"


class Profile(NamedTuple):  # (a record, not a dataclass: creating one costs ~1 ms at every start)
    name: str
    privileged: bool = True
    helpers: Mapping[int, Helper] = XDP_HELPERS
    rules: Any = None  # extra target rules with hooks (nfp_rules.NfpRules)
    offloaded: bool = False  # bpf_prog_is_offloaded: the program runs on a device

    @property
    def allow_ptr_leaks(self) -> bool:
        return self.privileged

    @property
    def allow_uninit_stack(self) -> bool:
        return self.privileged

    @property
    def allow_loops(self) -> bool:
        return self.privileged

    def ctx_writable(self, off: int, size: int) -> xdp_ctx.CtxField | None:
        """The context field a `size`-byte write at `off` may change (net/core/filter.c
        xdp_is_valid_access: none for a host program; rx_queue_index, 4 bytes, offloaded)."""
        field = xdp_ctx.BY_OFFSET.get(off)
        if self.offloaded and field is not None and field.offload_writable and size == xdp_ctx.FIELD_SIZE:
            return field
        return None

    def refuse_helper(self, func_id: int) -> str:
        if self.rules is not None:
            return self.rules.refuse_helper(func_id)
        return _linux_refusal(func_id)


def get_profile(name: str, *, unprivileged: bool = False, firmware=None) -> Profile:
    """`firmware` (nfp only): a name in platform.nfp_driver.FIRMWARES or a Firmware; default agilio-bpf."""
    if name == "linux":
        return _UNPRIVILEGED if unprivileged else _LINUX
    if name == "unprivileged":
        return _UNPRIVILEGED
    if name == "nfp":
        from .nfp_rules import NfpRules

        return Profile("nfp", privileged=not unprivileged, helpers=NFP_HELPERS, rules=NfpRules(firmware),
                       offloaded=True)
    raise XdpError(f"unknown verifier profile {name!r} (have linux, nfp)")


# made once: a Profile is frozen, and making one costs more than a small program's check
_LINUX = Profile("linux", privileged=True)
_UNPRIVILEGED = Profile("unprivileged", privileged=False)
PROFILE_NAMES = ("linux", "nfp")
