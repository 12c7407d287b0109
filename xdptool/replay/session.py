"""Setting up what `run` and `replay` execute: object, program, initial maps, engine.

A `Target` can make any number of fresh (engine, map store) pairs from the same
starting state, which is what a comparison between two engines needs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import XdpError

TARGETS = ("jit", "vm", "kernel", "nfp-emu")
STATE_DIR = ".xdptool"
NO_OFFLOAD = "no program offloaded; run `xdptool offload OBJ --target nfp-emu` or give --prog"


def read_maps_file(path: str) -> dict[str, list]:
    """A --maps-in document: {NAME: [{"key": HEX, "value": HEX | [HEX...]}]}."""
    from ..jsontext import read_json

    document = read_json(path)
    if not isinstance(document, dict) or not all(isinstance(v, list) for v in document.values()):
        raise XdpError(f'{path}: expected {{"MAP": [{{"key": HEX, "value": HEX}}, ...]}}')
    return document


def write_maps_file(path: str, state: dict[str, list]) -> None:
    """--maps-out, replaced atomically (the caller has checked the path with files.check_output)."""
    from ..files import atomic_write

    atomic_write(path, json.dumps(state, indent=2) + "\n")


@dataclass
class Target:
    """A program on an engine kind, with the map state every fresh run starts from."""

    name: str  # engine kind: jit, vm, kernel, nfp-emu
    object: Any  # elf.model.Object
    program: Any  # elf.model.Program
    config: Any = None  # runtime.config.RuntimeConfig
    initial_maps: dict[str, list] | None = None
    maps_source: str | None = None  # where initial_maps came from, for messages

    def new_store(self):
        from ..runtime.maps import MapStore

        store = MapStore.for_object(self.object, self.config)
        if self.initial_maps:
            try:
                store.load(self.initial_maps)
            except XdpError as exc:
                raise XdpError(f"{self.maps_source or 'maps'}: {exc}") from None
        return store

    def make(self, name: str | None = None):
        """A fresh (engine, map store) pair; `name` overrides the engine kind."""
        from ..runtime.engines import make_engine

        store = self.new_store()
        return make_engine(name or self.name, self.program, store, self.config), store

    def make_tracing_vm(self):
        """A fresh reference interpreter that records every executed instruction."""
        from ..runtime.vm import VmEngine

        store = self.new_store()
        return VmEngine(self.program, store, self.config, trace=True), store

    def with_engine(self, name: str) -> "Target":
        return Target(name, self.object, self.program, self.config, self.initial_maps, self.maps_source)


def program_target(obj_path: str, selector: str | None, engine: str, maps_in: str | None = None) -> Target:
    """OBJ (or a .c source, built first) + -p + --maps-in, on `engine`."""
    from ..cli.objects import load
    from ..runtime.config import RuntimeConfig

    obj = load(obj_path)
    program = obj.program(selector)
    initial = read_maps_file(maps_in) if maps_in else None
    if initial:
        unknown = sorted(set(initial) - set(obj.maps))
        if unknown:
            raise XdpError(f"{maps_in}: no map named {unknown[0]!r} in {obj_path} (maps: {', '.join(obj.maps) or 'none'})")
    return Target(engine, obj, program, RuntimeConfig(), initial, maps_in)


def offloaded_target(state_dir: str = STATE_DIR) -> Target:
    """The program `xdptool offload` left in the state directory, on the emulated NIC.

    Expects `xdptool.nfp.state.load_offloaded(state_dir) -> Target | None` (None:
    nothing offloaded).  The NIC's maps persist across replays: its engine saves
    them when the replay closes it.
    """
    if not Path(state_dir).is_dir():
        raise XdpError(NO_OFFLOAD)
    not_yet = f"replaying the image offloaded in {state_dir} is not implemented in this version; give --prog"
    try:
        from ..nfp import state as nfp_state
    except ImportError:
        raise XdpError(not_yet) from None
    if not hasattr(nfp_state, "load_offloaded"):
        raise XdpError(not_yet)
    loaded = nfp_state.load_offloaded(state_dir)
    if loaded is None:
        raise XdpError(NO_OFFLOAD)
    return loaded
