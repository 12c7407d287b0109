"""Native helper implementations (filled in below as they are written)."""

from __future__ import annotations


def native_emitters(maps) -> dict:
    return {}
