"""`xdptool maps dump|set|reset`: the emulated NIC's maps, between replays."""

from __future__ import annotations

from contextlib import contextmanager

import click

from ..errors import XdpError
from .console import json_option, out, parse_hex, print_json

STATE_OPTION = click.option("--state", "state_dir", default=".xdptool", show_default=True,
                            type=click.Path(file_okay=False), help="The emulated NIC's state directory.")


def _nothing_offloaded(state_dir: str) -> XdpError:
    return XdpError(f"nothing offloaded in {state_dir}; run `xdptool offload OBJ --target nfp-emu`")


def _loaded(state_dir: str):
    """(object, offload document) of the offloaded program."""
    from ..nfp import state

    loaded = state.load(state_dir)
    if loaded is None:
        raise _nothing_offloaded(state_dir)
    return loaded[0], loaded[2]


@contextmanager
def _card(state_dir: str):
    """The offloaded object, with the card's lock held for a read-modify-write.

    The object is loaded before the lock (the slow part), and again under it only if
    an offload replaced it meanwhile: writers hold the lock for milliseconds.
    """
    from ..nfp import state

    obj, document = _loaded(state_dir)
    with state.locked(state_dir):
        if state.offloaded(state_dir) != document:
            obj, document = _loaded(state_dir)
        yield obj


def _store(state_dir: str, obj=None):
    """The offloaded object's MapStore, filled from the saved state."""
    from ..nfp import state
    from ..runtime.maps import MapStore

    store = MapStore.for_object(obj if obj is not None else _loaded(state_dir)[0])
    saved = state.load_maps(state_dir)
    try:
        store.load(saved)
    except XdpError as exc:
        raise XdpError(f"{state.maps_path(state_dir)}: {exc}; {state.RESET_MAPS}") from None
    return store


@click.group("maps")
def command():
    """Dump, set or reset the maps of the emulated NIC (after `xdptool offload`)."""


@command.command("dump")
@STATE_OPTION
@click.argument("names", nargs=-1)
@json_option()
def dump(state_dir, names, as_json):
    """Show the maps' contents (all, or the NAMES given)."""
    from ..elf.values import MapValues

    obj = _loaded(state_dir)[0]
    store = _store(state_dir, obj)
    state = store.dump()
    for name in names:
        store[name]  # unknown names: one-line error
    if names:
        state = {n: state[n] for n in names}
    state = MapValues(obj).state(state)  # "formatted" beside the hex, as bpftool -j map dump
    if as_json:
        print_json(state)
        return
    for name, entries in state.items():
        out.print(f"{name} ({store[name].type.kernel_name}, {len(entries)} entries)", markup=False)
        for entry in entries:
            out.print(f"  {entry_line(entry)}", markup=False)


def entry_line(entry: dict) -> str:
    """`key -> value` through BTF, with the bytes as stored after it; the bytes alone without BTF."""
    from ..elf.values import render

    raw = f"{entry['key']} -> {entry['value'] if isinstance(entry['value'], str) else ' '.join(entry['value'])}"
    formatted = entry.get("formatted")
    if formatted is None:
        return raw
    return f"{render(formatted['key'])} -> {render(formatted['value'])}    ({raw})"


@command.command("set")
@STATE_OPTION
@click.argument("name")
@click.argument("key")
@click.argument("value")
@json_option()
def set_entry(state_dir, name, key, value, as_json):
    """Set NAME[KEY] = VALUE (hex bytes, as `dump` shows them)."""
    from ..nfp import state

    key_bytes, value_bytes = parse_hex(key, "KEY", " :"), parse_hex(value, "VALUE", " :")
    with _card(state_dir) as obj:  # read, update and write back with no other writer in between
        store = _store(state_dir, obj)
        err = store[name].update(key_bytes, value_bytes)
        if err:
            raise XdpError(f"map {name}: update refused (errno {-err})")
        state.save_maps(state_dir, store.dump())
    if as_json:
        print_json({"map": name, "key": key_bytes.hex(), "value": value_bytes.hex(), "state": state_dir})
        return
    out.print(f"{name}[{key}] = {value}", markup=False)


@command.command("reset")
@STATE_OPTION
@json_option()
def reset(state_dir, as_json):
    """Return every map to the object's initial contents."""
    from ..nfp import state
    from ..runtime.maps import MapStore

    with _card(state_dir) as obj:
        initial = MapStore.for_object(obj).dump()
        state.save_maps(state_dir, initial)
    if as_json:
        print_json({"reset": sorted(initial), "state": state_dir})
        return
    out.print("maps reset", markup=False)
