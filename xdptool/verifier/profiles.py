"""Platform profiles as data: who loads the program and what the target accepts.

`linux` is a privileged load on a current kernel (CAP_BPF + CAP_PERFMON: bounded
loops, pointer comparisons, uninitialised stack reads and pointer leaks allowed);
`unprivileged` is the same kernel with those allowances off; `nfp` is the
privileged kernel with only the helpers the Netronome driver supports, plus the
restrictions of the offload (nfp_rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import XdpError
from ..platform.helpers import NFP_HELPERS, XDP_HELPERS, Helper, helper_name


def _linux_refusal(func_id: int) -> str:
    return f"program of this type cannot use helper {helper_name(func_id)}#{func_id}"


@dataclass(frozen=True)
class Profile:
    name: str
    privileged: bool = True
    helpers: Mapping[int, Helper] = field(default_factory=lambda: XDP_HELPERS)
    rules: Any = None  # extra target rules with hooks (nfp_rules.NfpRules)

    @property
    def allow_ptr_leaks(self) -> bool:
        return self.privileged

    @property
    def allow_uninit_stack(self) -> bool:
        return self.privileged

    @property
    def allow_loops(self) -> bool:
        return self.privileged

    def refuse_helper(self, func_id: int) -> str:
        if self.rules is not None:
            return self.rules.refuse_helper(func_id)
        return _linux_refusal(func_id)


def get_profile(name: str, *, unprivileged: bool = False) -> Profile:
    if name == "linux":
        return Profile("unprivileged" if unprivileged else "linux", privileged=not unprivileged)
    if name == "unprivileged":
        return Profile("unprivileged", privileged=False)
    if name == "nfp":
        from .nfp_rules import NfpRules

        return Profile("nfp", privileged=not unprivileged, helpers=NFP_HELPERS, rules=NfpRules())
    raise XdpError(f"unknown verifier profile {name!r} (have linux, nfp)")


PROFILE_NAMES = ("linux", "nfp")
