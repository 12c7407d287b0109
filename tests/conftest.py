"""Shared fixtures: the bundled example programs compiled once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "programs"
# The bpf_conformance suite ships in ../shared beside the checkout; XDPTOOL_CONFORMANCE points elsewhere.
CONFORMANCE = Path(os.environ.get("XDPTOOL_CONFORMANCE", ROOT.parent / "shared" / "conformance"))
NO_CONFORMANCE = None if (CONFORMANCE / "tests").is_dir() else (
    f"no bpf_conformance suite at {CONFORMANCE} (it ships in ../shared/conformance beside the checkout; "
    "set XDPTOOL_CONFORMANCE to its directory)")
needs_conformance = pytest.mark.skipif(NO_CONFORMANCE is not None, reason=NO_CONFORMANCE or "")


# Property tests draw the same examples on every run (a red build names a regression, not an
# unlucky draw; `make fuzz` is where inputs are explored) and never fail on time: machines are shared.
settings.register_profile("xdptool", derandomize=True, database=None, deadline=None)
settings.load_profile("xdptool")

# The JIT's compile cache for test runs lives in the build tree, not the user's ~/.cache.
os.environ.setdefault("XDPTOOL_CACHE_DIR", str(ROOT / "build" / "jit-cache"))


def example_sources() -> list[Path]:
    return sorted(PROGRAMS.glob("*.c"))


@pytest.fixture(scope="session")
def built_examples(tmp_path_factory) -> dict[str, Path]:
    """name -> compiled object of every programs/*.c (built with xdptool's toolchain)."""
    if shutil.which("clang") is None:
        pytest.skip("clang is not installed (make setup installs it)")
    from xdptool import toolchain

    out = tmp_path_factory.mktemp("examples")
    return {src.stem: Path(toolchain.build(src, out / f"{src.stem}.o").output) for src in example_sources()}
