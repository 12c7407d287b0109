"""`xdptool maps`: the emulated NIC's maps, between replays, reached as the host reaches a card's.

Every read and write of the card's maps goes through the control-message channel
(nfp/cmsg.py): the driver's request, the firmware's answer, the driver's errno, so
`lookup`, `next`, `delete` and `set` fail where bpftool on a real card would, with
the errno the nfp driver returns (a full hash map: E2BIG; an array element cannot
be deleted: EINVAL).  `stats` shows the card's counters (ethtool -S names).
"""

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
    """The emulated NIC's maps through its control messages: dump, lookup, next, set, delete, reset; its counters: stats."""


@command.command("dump")
@STATE_OPTION
@click.argument("names", nargs=-1)
@json_option()
def dump(state_dir, names, as_json):
    """Show the maps' contents (all, or the NAMES given)."""
    from ..elf.values import MapValues

    obj = _loaded(state_dir)[0]
    store = _store(state_dir, obj)
    for name in names:
        store[name]  # unknown names: one-line error
    driver = _channel(store)
    state = {n: _walk(driver, store[n]) for n in (names or store) if n in driver.tids}
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


UPDATE_FLAGS = {"any": 0, "noexist": 1, "exist": 2}  # uapi BPF_ANY, BPF_NOEXIST, BPF_EXIST


def _flags(text: str) -> int:
    if text.lower() in UPDATE_FLAGS:
        return UPDATE_FLAGS[text.lower()]
    try:
        return int(text, 0)
    except ValueError:
        raise XdpError(f"--flags: {text!r} is none of {', '.join(UPDATE_FLAGS)} nor a number") from None


def _channel(store):
    """The driver's end of the control-message channel to the card holding `store`'s maps."""
    from ..nfp.cmsg import open_channel

    return open_channel(store)


def _on_card(driver, store, name: str):
    """The map NAME, which must live on the card (perf event arrays stay on the host)."""
    m = store[name]
    if name not in driver.tids:
        raise XdpError(f"map {name} is a {m.type.kernel_name}: it stays on the host (offload-neutral), "
                       "not in the card's memory")
    return m


def _refused(driver, m, op: str, result) -> XdpError:
    """The driver's errno as one line, with the driver's log and what the errno means here."""
    import errno
    import os

    from ..nfp.cmsg import refusal_reason

    code = -result.errno
    logged = f"; nfp driver: {driver.log[-1]}" if driver.log else ""
    return XdpError(f"map {m.name}: {op} refused by the card: {errno.errorcode.get(code, code)} ({os.strerror(code)})"
                    f"{refusal_reason(m, op, result.errno)}{logged}")


def _sized(m, key: bytes, value: bytes | None = None) -> None:
    """The key and value must be the map's sizes (bpf(2) copies exactly that many bytes)."""
    m.check_key(key)
    if value is not None and len(value) != m.value_size:
        raise XdpError(f"map {m.name}: value of {len(value)} bytes, value_size is {m.value_size}")


def _walk(driver, m) -> list[dict]:
    """Every entry as bpftool dumps a map: get_next_key from none, a lookup per key."""
    entries, key = [], None
    while True:
        found = driver.get_next_key(m, key)
        if found.errno:
            if found.errno != -2:  # ENOENT: the end
                raise _refused(driver, m, "get_next_key", found)
            return entries
        key = found.key
        value = driver.lookup(m, key)
        if value.errno:
            raise _refused(driver, m, "lookup", value)
        entries.append({"key": key.hex(), "value": value.value.hex()})


@command.command("set")
@STATE_OPTION
@click.argument("name")
@click.argument("key")
@click.argument("value")
@click.option("--flags", "flags_text", default="any", show_default=True, metavar="any|noexist|exist|N",
              help="BPF_ANY, BPF_NOEXIST (only a new key) or BPF_EXIST (only an existing one).")
@json_option()
def set_entry(state_dir, name, key, value, flags_text, as_json):
    """Set NAME[KEY] = VALUE (hex bytes, as `dump` shows them): a map update message to the card."""
    from ..nfp import state

    key_bytes, value_bytes = parse_hex(key, "KEY", " :"), parse_hex(value, "VALUE", " :")
    flags = _flags(flags_text)
    with _card(state_dir) as obj:  # read, update and write back with no other writer in between
        store = _store(state_dir, obj)
        driver = _channel(store)
        m = _on_card(driver, store, name)
        _sized(m, key_bytes, value_bytes)
        result = driver.update(m, key_bytes, value_bytes, flags)
        if result.errno:
            raise _refused(driver, m, "update", result)
        state.save_maps(state_dir, store.dump())
    if as_json:
        print_json({"map": name, "key": key_bytes.hex(), "value": value_bytes.hex(), "state": state_dir})
        return
    out.print(f"{name}[{key}] = {value}", markup=False)


@command.command("lookup")
@STATE_OPTION
@click.argument("name")
@click.argument("key")
@json_option()
def lookup(state_dir, name, key, as_json):
    """Look NAME[KEY] up on the card (a map lookup message)."""
    from ..elf.values import MapValues

    obj = _loaded(state_dir)[0]
    store = _store(state_dir, obj)
    driver = _channel(store)
    m = _on_card(driver, store, name)
    key_bytes = parse_hex(key, "KEY", " :")
    _sized(m, key_bytes)
    result = driver.lookup(m, key_bytes)
    if result.errno:
        raise _refused(driver, m, "lookup", result)
    entry = MapValues(obj).state({name: [{"key": key_bytes.hex(), "value": result.value.hex()}]})[name][0]
    if as_json:
        print_json({"map": name, **entry})
        return
    out.print(entry_line(entry), markup=False)


@command.command("next")
@STATE_OPTION
@click.argument("name")
@click.argument("key", required=False)
@json_option()
def next_key(state_dir, name, key, as_json):
    """The key after KEY in NAME on the card (without KEY: the first), as bpf_map_get_next_key."""
    obj = _loaded(state_dir)[0]
    store = _store(state_dir, obj)
    driver = _channel(store)
    m = _on_card(driver, store, name)
    key_bytes = None if key is None else parse_hex(key, "KEY", " :")
    if key_bytes is not None:
        _sized(m, key_bytes)
    result = driver.get_next_key(m, key_bytes)
    if result.errno:
        raise _refused(driver, m, "get_next_key", result)
    if as_json:
        print_json({"map": name, "key": None if key_bytes is None else key_bytes.hex(), "next_key": result.key.hex()})
        return
    out.print(result.key.hex(), markup=False)


@command.command("delete")
@STATE_OPTION
@click.argument("name")
@click.argument("key")
@json_option()
def delete(state_dir, name, key, as_json):
    """Delete NAME[KEY] on the card (a map delete message)."""
    from ..nfp import state

    key_bytes = parse_hex(key, "KEY", " :")
    with _card(state_dir) as obj:
        store = _store(state_dir, obj)
        driver = _channel(store)
        m = _on_card(driver, store, name)
        _sized(m, key_bytes)
        result = driver.delete(m, key_bytes)
        if result.errno:
            raise _refused(driver, m, "delete", result)
        state.save_maps(state_dir, store.dump())
    if as_json:
        print_json({"map": name, "deleted": key_bytes.hex(), "state": state_dir})
        return
    out.print(f"deleted {name}[{key}]", markup=False)


@command.command("stats")
@STATE_OPTION
@json_option()
def stats(state_dir, as_json):
    """The card's counters since the offload, as `ethtool -S` names them (every replay on the card adds to them)."""
    from ..nfp import state

    _loaded(state_dir)
    counters = state.load_stats(state_dir)
    if as_json:
        print_json(counters)
        return
    out.print("NIC statistics:", markup=False)
    for name, value in counters.items():
        out.print(f"     {name}: {value}", markup=False)


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
