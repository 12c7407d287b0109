"""The fuzz suite's session fixtures and its report of how many inputs each category tried."""

from __future__ import annotations

import shutil

import pytest
from .fuzz_support import PROFILE, TRIED


def pytest_terminal_summary(terminalreporter):
    if TRIED:
        counts = ", ".join(f"{name} {count}" for name, count in sorted(TRIED.items()))
        terminalreporter.write_line(f"fuzz ({PROFILE} profile) inputs tried: {counts}; total {sum(TRIED.values())}")


class Corpus(dict):
    """A dict of seeds that hypothesis reports by name, not by its megabyte of bytes."""

    def __repr__(self) -> str:
        return f"<seeds {', '.join(self)}>"


@pytest.fixture(scope="session")
def objects(built_examples) -> Corpus:
    """name -> the bytes of every compiled example: the ELF seed corpus."""
    return Corpus((name, path.read_bytes()) for name, path in built_examples.items())


@pytest.fixture(scope="session")
def fuzz_dir(tmp_path_factory):
    """A scratch directory for the inputs each example writes (overwritten example by example)."""
    path = tmp_path_factory.mktemp("fuzz")
    yield path
    shutil.rmtree(path, ignore_errors=True)
