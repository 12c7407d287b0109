"""JSON map files (`--maps-in`): documents shaped like programs/*.maps.json with wrong
types, sizes and names, random JSON, and hostile text (deep nesting, long integers,
bytes that are not UTF-8), loaded into the program's maps.  Only XdpError may escape.
"""

from __future__ import annotations

import json

from .fuzz_support import fuzz, only_our_errors
from hypothesis import given
from hypothesis import strategies as st

from hostile_inputs import PROGRAMS, UDP_PACKET, assert_handled, cli_run

WITH_MAPS = sorted(p.name.removesuffix(".maps.json") for p in PROGRAMS.glob("*.maps.json"))
HEX = st.binary(max_size=20).map(bytes.hex) | st.sampled_from(["", "0", "zz", "0x00", "00 11", "ff" * 300])
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-(10**40), 10**40) | st.floats() | st.text(max_size=8)
           | HEX)
ANY_JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                                           max_size=4), max_leaves=12)


@st.composite
def entry(draw):
    keys = draw(st.sets(st.sampled_from(["key", "value", "absent", "other"]), max_size=4) | st.just({"key", "value"}))
    return {k: draw(HEX | st.lists(HEX, max_size=3) | ANY_JSON) for k in keys}


@st.composite
def maps_document(draw, map_names):
    names = st.sampled_from(map_names) | st.text(max_size=6)
    return draw(st.dictionaries(names, st.lists(entry(), max_size=4) | ANY_JSON, max_size=3))


@st.composite
def maps_text(draw, map_names):
    """Text of a document, sometimes made hostile."""
    text = json.dumps(draw(maps_document(map_names) | ANY_JSON))
    trick = draw(st.sampled_from(["none", "none", "nest", "digits", "cut", "bytes"]))
    if trick == "nest":
        depth = draw(st.integers(1, 3000))
        text = "[" * depth + text + "]" * depth
    elif trick == "digits":
        text = text.replace("null", "9" * draw(st.integers(4000, 5000)), 1) if "null" in text else "1" * 4400
    elif trick == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    data = text.encode()
    if trick == "bytes":
        data = data[:1] + draw(st.binary(min_size=1, max_size=4)) + data[1:]
    return data


@fuzz(2)
@given(st.sampled_from(WITH_MAPS), st.data())
def test_maps_files_load_or_are_refused(built_examples, fuzz_dir, name, data):
    from xdptool.runtime.target import program_target

    obj_path = built_examples[name]
    seed = json.loads((PROGRAMS / f"{name}.maps.json").read_text())
    path = fuzz_dir / "maps.json"
    path.write_bytes(data.draw(maps_text(sorted(seed) + ["drops", "nope"])))
    with only_our_errors("maps json"):
        program_target(str(obj_path), None, "vm", str(path)).new_store()


@fuzz(0.5)
@given(st.sampled_from(WITH_MAPS), st.data())
def test_maps_files_through_run(built_examples, fuzz_dir, name, data):
    path = fuzz_dir / "run-maps.json"
    path.write_bytes(data.draw(maps_text(["blocklist", "drops", "backends", "nope"])))
    with only_our_errors("maps json cli"):
        assert_handled(cli_run("run", built_examples[name], "--target", "vm", "--packet", UDP_PACKET.hex(),
                               "--maps-in", path))
