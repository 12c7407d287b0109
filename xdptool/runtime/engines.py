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

# target -> "module:function" giving None when the target can run here, else the reason.
PROBES: dict[str, str] = {
    "kernel": "xdptool.kernel.probe:kernel_unavailable_reason",
}

ENGINES: dict[str, str] = {
    "vm": "xdptool.runtime.vm:VmEngine",
    "jit": "xdptool.runtime.jit:JitEngine",
    "kernel": "xdptool.kernel.engine:KernelEngine",
    "nfp-emu": "xdptool.nfp.engine:NfpEngine",
}
TARGETS: tuple[str, ...] = tuple(ENGINES)  # every --target and spec `target` names one of these

# The runtime keys (config.RUNTIME_KEYS) an engine that does not model them all honours, and
# where it takes the rest from: a user's key it would not honour is refused, never ignored.
CONFIG_KEYS: dict[str, tuple[tuple[str, ...], str]] = {
    "kernel": (("ncpus", "cpu"), "the live kernel answers from the host's routes, devices, clock and CPUs"),
    "nfp-emu": (("ncpus", "cpu", "prandom_seed"),
                "the card calls no other helper that reads them (nfp_bpf_check_helper_call)"),
}


def check_config(target: str, config: RuntimeConfig | None) -> None:
    """XdpError when `config` has a user-given key that engine `target` cannot honour."""
    honoured, why = CONFIG_KEYS.get(target, (None, ""))
    if config is None or honoured is None:
        return
    ignored = sorted(config.given - set(honoured))
    if ignored:
        raise XdpError(f"runtime key {ignored[0]} cannot be given to the {target} engine: {why} "
                       f"(it takes only {', '.join(honoured)})")


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


def target_available(target: str) -> tuple[bool, str | None]:
    """(True, None) when `target` can run here, else (False, why) — never raises."""
    try:
        engine_class(target)
        probe = PROBES.get(target)
        if probe is not None:
            module_name, _, func = probe.partition(":")
            reason = getattr(importlib.import_module(module_name), func)()
            if reason:
                return False, reason
    except XdpError as exc:
        return False, str(exc)
    except Exception as exc:  # a broken optional engine must not break the others
        return False, f"{type(exc).__name__}: {exc}"
    return True, None


def make_engine(target: str, program, maps=None, config: RuntimeConfig | None = None, **opts: Any) -> Engine:
    """An engine for `program` over `maps` (a MapStore; a fresh one when None).

    Every engine is made here, so this is where a program's instructions are checked
    (once per Program) before any engine compiles or executes them."""
    from ..ebpf.validate import check_runnable
    from .maps import MapStore

    check_runnable(program)
    check_config(target, config)

    if maps is None:
        obj = getattr(program, "object", None)
        maps = MapStore.for_object(obj, config) if obj is not None else MapStore({}, config)
    return engine_class(target)(program, maps, config, **opts)
