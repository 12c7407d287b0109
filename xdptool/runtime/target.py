"""What `run`, `replay` and `test` execute: an object, one of its programs, the map state
every run starts from, and the engine kind to run it on.

A `Target` makes any number of fresh (engine, map store) pairs from the same starting
state, which is what a comparison between two engines needs.  It sits in the runtime
layer so the NFP card's state (nfp/state.py) and the replay driver can both build one.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import XdpError


def load_object_or_source(path: str, build: dict | None = None):
    """Load OBJ; a `.c` path is built first, into the build cache (toolchain.build_cached),
    with `build`'s includes, defines and cflags."""
    from ..elf import load_object

    if not os.path.exists(path):
        raise XdpError(f"{path}: no such file")
    if path.endswith(".c"):
        from pathlib import Path

        from .. import toolchain  # here: its imports (subprocess, shutil, tempfile) cost an object's start-up

        return load_object(toolchain.build_cached(Path(path), **(build or {})))
    if "/." in "/" + path or "//" in path or path.endswith("/"):  # spelled as pathlib would not ("./x.o"):
        from pathlib import Path  # its spelling, as before ("x.o"); plain paths skip importing pathlib

        path = str(Path(path))
    return load_object(path)


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


class Target:
    """A program on an engine kind, with the map state every fresh run starts from.  (A plain
    class, not a dataclass: a dataclass compiles its methods at every start.)"""

    def __init__(self, name: str, object: Any, program: Any, config: Any = None,
                 initial_maps: dict[str, list] | None = None, maps_source: str | None = None) -> None:
        self.name = name  # engine kind: a key of runtime.engines.ENGINES
        self.object = object  # elf.model.Object
        self.program = program  # elf.model.Program
        self.config = config  # runtime.config.RuntimeConfig
        self.initial_maps = initial_maps
        self.maps_source = maps_source  # where initial_maps came from, for messages

    def new_store(self):
        from .maps import MapStore

        store = MapStore.for_object(self.object, self.config)
        if self.initial_maps:
            try:
                store.load(self.initial_maps)
            except XdpError as exc:
                raise XdpError(f"{self.maps_source or 'maps'}: {exc}") from None
        return store

    def make(self, name: str | None = None):
        """A fresh (engine, map store) pair; `name` overrides the engine kind."""
        from .engines import make_engine

        store = self.new_store()
        return make_engine(name or self.name, self.program, store, self.config), store

    def make_tracing_vm(self):
        """A fresh reference interpreter that records every executed instruction."""
        from .vm import VmEngine

        store = self.new_store()
        return VmEngine(self.program, store, self.config, trace=True), store

    def with_engine(self, name: str) -> "Target":
        return Target(name, self.object, self.program, self.config, self.initial_maps, self.maps_source)

    def with_runtime(self, path: str) -> "Target":
        """This target under --runtime FILE.json's config (config.RUNTIME_KEYS); a key its engine
        cannot honour is refused now, before anything runs."""
        from .config import read_runtime_file
        from .engines import check_config

        config = read_runtime_file(path, self.config)
        try:
            check_config(self.name, config)
        except XdpError as exc:
            raise XdpError(f"{path}: {exc}") from None
        return type(self)(self.name, self.object, self.program, config, self.initial_maps, self.maps_source)

    def queue_conflict(self, queues: int) -> str | None:
        """Why --queues N cannot run under this target's runtime config (it sets ncpus N and cpu i
        for queue i), or None."""
        config = self.config
        given = config.given if config is not None else frozenset()
        if "cpu" in given or ("ncpus" in given and config is not None and config.ncpus != queues):
            return (f"--queues {queues} runs queue i on cpu i of ncpus {queues}: the runtime config's "
                    f"{'cpu' if 'cpu' in given else 'ncpus'} cannot apply (give neither, or ncpus {queues})")
        return None


def program_target(obj_path: str, selector: str | None, engine: str, maps_in: str | None = None,
                   build: dict | None = None) -> Target:
    """OBJ (or a .c source, built first with `build`'s flags) + -p + --maps-in, on `engine`."""
    from .config import RuntimeConfig

    obj = load_object_or_source(obj_path, build)
    program = obj.program(selector)
    initial = read_maps_file(maps_in) if maps_in else None
    if initial:
        unknown = sorted(set(initial) - set(obj.maps))
        if unknown:
            raise XdpError(f"{maps_in}: no map named {unknown[0]!r} in {obj_path} (maps: {', '.join(obj.maps) or 'none'})")
    return Target(engine, obj, program, RuntimeConfig(), initial, maps_in)
