"""What every fuzz test shares: the example budget, the input counter, the one assertion.

Two hypothesis profiles, chosen by XDPTOOL_FUZZ: "ci" (the default, what `make test`
runs: a fixed seed and a few dozen inputs per test, so the whole suite stays well
under a minute) and "long" (`make fuzz`: random seeds, many more inputs).  A test
asks for `fuzz(weight)`: the profile's example count times `weight`, so cheap
inputs (a capture read) get more examples than dear ones (a JIT compile).
"""

from __future__ import annotations

import os
from collections import Counter
from contextlib import contextmanager

from hypothesis import HealthCheck, settings

from xdptool.errors import XdpError

PROFILES = {
    "ci": dict(max_examples=25, derandomize=True, database=None),
    "long": dict(max_examples=1000),
}
for _name, _options in PROFILES.items():
    settings.register_profile(f"xdptool-fuzz-{_name}", deadline=None, print_blob=True,
                              suppress_health_check=list(HealthCheck), **_options)
PROFILE = os.environ.get("XDPTOOL_FUZZ", "ci")
if PROFILE not in PROFILES:
    raise SystemExit(f"XDPTOOL_FUZZ={PROFILE!r}: use one of {', '.join(PROFILES)}")
ACTIVE = settings.get_profile(f"xdptool-fuzz-{PROFILE}")

TRIED: Counter = Counter()  # category -> inputs run, reported at the end of the session


def fuzz(weight: float = 1.0) -> settings:
    return settings(ACTIVE, max_examples=max(1, round(ACTIVE.max_examples * weight)))


@contextmanager
def only_our_errors(category: str):
    """Count one input of `category`; bad input may raise XdpError, nothing else may escape."""
    TRIED[category] += 1
    try:
        yield
    except XdpError:
        pass
