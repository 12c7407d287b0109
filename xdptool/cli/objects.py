"""Loading an object (or building it first) for commands that take OBJ."""

from __future__ import annotations

from pathlib import Path

from ..errors import XdpError


def load(path: str):
    """Load OBJ; a `.c` path is built first (next to the source), as users expect."""
    from ..elf import load_object

    p = Path(path)
    if not p.exists():
        raise XdpError(f"{path}: no such file")
    if p.suffix == ".c":
        from .. import toolchain

        p = Path(toolchain.build(p).output)
    return load_object(p)
