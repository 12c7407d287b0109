"""The engine registry: `make_engine(target, program, maps, config)` by target name.

Engines are imported lazily (the JIT pulls in llvmlite, the kernel engine needs
bpf(2)), so asking for one that cannot load says which and why.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..errors import XdpError
from .config import RuntimeConfig
from .contract import Engine

ENGINES: dict[str, str] = {
    "vm": "xdptool.runtime.vm:VmEngine",
    "jit": "xdptool.runtime.jit:JitEngine",
    "kernel": "xdptool.kernel.engine:KernelEngine",
    "nfp-emu": "xdptool.nfp.engine:NfpEngine",
}


def engine_class(target: str) -> type:
    spec = ENGINES.get(target)
    if spec is None:
        raise XdpError(f"unknown target {target!r} (targets: {', '.join(ENGINES)})")
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise XdpError(f"target {target} is not available: {exc}") from None
    cls = getattr(module, class_name, None)
    if cls is None:
        raise XdpError(f"target {target} is not available: {module_name} has no {class_name}")
    return cls


def make_engine(target: str, program, maps=None, config: RuntimeConfig | None = None, **opts: Any) -> Engine:
    """An engine for `program` over `maps` (a MapStore; a fresh one when None)."""
    from .maps import MapStore

    if maps is None:
        obj = getattr(program, "object", None)
        maps = MapStore.for_object(obj, config) if obj is not None else MapStore({}, config)
    return engine_class(target)(program, maps, config, **opts)
