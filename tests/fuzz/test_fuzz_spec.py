"""TOML spec files: the bundled specs (programs/specs/, pointed at the compiled examples)
with values swapped for values of other types, lines dropped or repeated, bytes that are
not UTF-8, cut short; loaded, and run on the vm with a random -k.  Only XdpError may
escape, and through the CLI the exit code is 0, 1 or 2.
"""

from __future__ import annotations

import re

import pytest
from .fuzz_support import fuzz, only_our_errors
from hypothesis import given
from hypothesis import strategies as st

from hostile_inputs import PROGRAMS, assert_handled, cli_run

SPECS = sorted(p.name for p in (PROGRAMS / "specs").glob("*.toml"))
ASSIGNMENT = re.compile(r"^(\s*[\w.\"-]+\s*=\s*)(.+)$")
VALUES = ['"2"', "2", "-1", "0", "true", "[]", "{}", '["jitt"]', '"jitt"', '"all"', '"Ether"', '"Ether()/"', '"zz"',
          '"02"', '""', "1e400", "nan", '"[/x] [[case]]"', "9" * 30, '{ key = "00" }', '[{ key = "00", value = 1 }]',
          '"XDP_NOPE"', "4294967296", '"0035"', '[{ key = "0035", absent = true }]']
KEYWORDS = st.sampled_from(["", "udp", "not udp", "x ()", "(", "and", "port and not (tcp or", "drop or pass"]) | st.text(
    alphabet="abcdnotr ()", max_size=12)


@pytest.fixture(scope="session")
def spec_texts(built_examples) -> dict[str, str]:
    """Each bundled spec's text with its program pointed at the compiled example (no clang per input)."""
    texts = {}
    for name in SPECS:
        text = (PROGRAMS / "specs" / name).read_text()
        texts[name] = re.sub(r'^program\s*=\s*"\.\./(\w+)\.c"',
                             lambda m: f'program = "{built_examples[m.group(1)]}"', text, count=1, flags=re.M)
    return texts


@st.composite
def spec_bytes(draw, text: str) -> bytes:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "value", "value", "drop", "repeat", "key"]))
        match = ASSIGNMENT.match(lines[index])
        if action == "value" and match:
            lines[index] = match.group(1) + draw(st.sampled_from(VALUES))
        elif action == "drop":
            del lines[index]
        elif action == "repeat":
            lines.insert(index, lines[index])
        elif action == "key" and match:
            lines[index] = draw(st.sampled_from(["ncpus", "prog", "targets", "skip", "expect.maps.nope", "ctx", "zz",
                                                 "expect.packet_hex", "packet"])) + " = " + match.group(2)
    data = ("\n".join(lines) + "\n").encode()
    if draw(st.integers(0, 9)) == 0:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\x00", b"\xed\xa0\x80"])) + data[at:]
    if draw(st.integers(0, 9)) == 0:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@fuzz(2)
@given(st.sampled_from(SPECS), KEYWORDS, st.data())
def test_mutated_specs_load_and_run_on_the_vm(spec_texts, fuzz_dir, name, keyword, data):
    from xdptool.testing.runner import run_spec
    from xdptool.testing.spec import load_spec

    path = fuzz_dir / name
    path.write_bytes(data.draw(spec_bytes(spec_texts[name])))
    spec = None
    with only_our_errors("spec load"):
        spec = load_spec(path)
    if spec is not None:
        with only_our_errors("spec run"):
            run_spec(spec, ["vm"], keyword or None)


@fuzz(0.5)
@given(st.sampled_from(SPECS), KEYWORDS, st.data())
def test_mutated_specs_through_the_cli(spec_texts, fuzz_dir, name, keyword, data):
    path = fuzz_dir / f"cli-{name}"
    path.write_bytes(data.draw(spec_bytes(spec_texts[name])))
    with only_our_errors("spec cli"):
        assert_handled(cli_run("test", path, "--target", "vm", *(["-k", keyword] if keyword else [])))
