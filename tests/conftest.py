"""Shared fixtures: the bundled example programs compiled once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAMS = ROOT / "programs"
CONFORMANCE = ROOT.parent / "shared" / "conformance"


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
