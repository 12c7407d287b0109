"""The eBPF object loader: ELF + BTF -> `xdptool.elf.model.Object`.

`load_object` is imported lazily so that `import xdptool.elf.model` stays cheap.
"""

from __future__ import annotations

__all__ = ["load_object"]


def __getattr__(name: str):
    if name == "load_object":
        from .loader import load_object

        return load_object
    raise AttributeError(name)
