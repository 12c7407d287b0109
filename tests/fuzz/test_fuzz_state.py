"""The emulated NIC's state directory (`offload --state DIR`): one file of a real offload
corrupted (bytes flipped or cut, JSON values of the wrong type, deep nesting, long
integers), then the commands that read it.  Exit 0, 1 or 2 and never a traceback.
(Writing the state atomically is tests/test_state_integrity.py's subject; this is reading.)
"""

from __future__ import annotations

import json
import shutil

import pytest
from .fuzz_support import fuzz, only_our_errors
from hypothesis import given
from hypothesis import strategies as st

from hostile_inputs import PROGRAMS, assert_handled, cli_run

FILES = ["nfp/offload.json", "nfp/maps.json", "nfp/listing.s"]
COMMANDS = [("maps", "dump"), ("maps", "set", "blocklist", "0035", "01"), ("maps", "reset"),
            ("replay", str(PROGRAMS / "port_blocklist.pcap"))]
ODD_VALUES = [None, True, 0, -1, 2**64, 1.5, "", "x", "0035", [], {}, [[]], {"key": 1}, ["00"], "a" * 300]


@pytest.fixture(scope="session")
def offloaded(built_examples, tmp_path_factory):
    """A state directory holding port_blocklist offloaded to nfp-emu."""
    state = tmp_path_factory.mktemp("nic") / "state"
    result = cli_run("offload", built_examples["port_blocklist"], "--target", "nfp-emu", "--state", state)
    assert result.exit_code == 0, result.output
    return state


def odd_json(document, draw):
    """The document with one value replaced by a value of another type (walks down a few levels)."""
    if isinstance(document, dict) and document and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(document)))
        return {**document, key: odd_json(document[key], draw)} if draw(st.booleans()) else \
            {k: v for k, v in document.items() if k != key}
    if isinstance(document, list) and document and draw(st.integers(0, 3)):
        index = draw(st.integers(0, len(document) - 1))
        return document[:index] + [odd_json(document[index], draw)] + document[index + 1:]
    return draw(st.sampled_from(ODD_VALUES))


@st.composite
def corruption(draw, original: bytes, is_json: bool) -> bytes:
    kind = draw(st.sampled_from(["json", "json", "bytes", "cut", "nest", "digits"] if is_json else ["bytes", "cut"]))
    if kind == "json":
        return json.dumps(odd_json(json.loads(original), draw)).encode()
    if kind == "nest":
        depth = draw(st.integers(500, 5000))
        return b"[" * depth + original + b"]" * depth
    if kind == "digits":
        return b'{"object": ' + b"7" * 4500 + b"}"
    if kind == "cut":
        return original[: draw(st.integers(0, len(original)))]
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@fuzz(0.6)
@given(st.sampled_from(FILES), st.sampled_from(COMMANDS), st.data())
def test_corrupt_state_is_reported_in_one_line(offloaded, fuzz_dir, name, command, data):
    state = fuzz_dir / "state"
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(offloaded, state)
    target = state / name
    target.write_bytes(data.draw(corruption(target.read_bytes(), name.endswith(".json"))))
    with only_our_errors("nic state"):
        assert_handled(cli_run(*command, "--state", state))
