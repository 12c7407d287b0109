"""The spec parser: good specs load, bad ones fail with file, line and key (exit 2)."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner

from xdptool.cli.main import cli
from xdptool.testing.runner import matches
from xdptool.testing.spec import SpecError, load_spec

GOOD = """
program = "fw.c"
prog = "xdp_fw"

[[maps.blocklist]]
key = "0a000001"
value = "01"

[[case]]
name = "blocked source is dropped"
packet = "Ether()/IP(src='10.0.0.1')/UDP(dport=53)"
ctx = { ingress_ifindex = 2, rx_queue_index = 1 }
expect.verdict = "XDP_DROP"
expect.maps.counters = [{ key = "00000000", value = ["0100000000000000", "00"] }]

[[case]]
name = "hex packet"
packet_hex = "ffffffffffff 000000000000 0800"
fresh_maps = true
expect.verdict = 2
expect.packet = "ffffffffffff0000000000000800"
"""


def write(tmp_path, text, name="spec.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_good_spec_loads(tmp_path):
    spec = load_spec(write(tmp_path, GOOD))
    assert spec.program == (tmp_path / "fw.c").resolve()
    assert spec.prog == "xdp_fw"
    assert spec.maps["blocklist"][0].key == bytes.fromhex("0a000001")
    first, second = spec.cases
    assert first.expect.verdict == 1 and first.ctx == {"ingress_ifindex": 2, "rx_queue_index": 1}
    assert first.packet[12:14] == b"\x08\x00" and first.packet[26:30] == bytes([10, 0, 0, 1])
    assert first.expect.maps["counters"][0].value == [bytes.fromhex("0100000000000000"), b"\0"]
    assert second.fresh_maps and second.packet == bytes.fromhex("ffffffffffff0000000000000800")
    assert second.expect.verdict == 2 and second.expect.packet == second.packet
    assert (first.line, second.line) == (9, 16)


BAD = [
    ("program = 'fw.c'\n[[case]]\nname = 'x'\npacket_hex = '00'\nexpect.verdict = 'XDP_DROP'\n[oops\n", 6, "TOML syntax error"),
    ("program = 'fw.c'\n[[case]]\npacket_hex = '00'\nbogus = 1\n", 4, "bogus: unknown key"),
    ("program = 'fw.c'\n[[case]]\npacket_hex = 'zz'\n", 3, "packet_hex: bad hex"),
    ("program = 'fw.c'\n[[case]]\npacket_hex = '00'\nexpect.verdict = 'XDP_EXPLODE'\n", 4, "unknown verdict"),
    ("program = 'fw.c'\n[[case]]\npacket_hex = '00'\nexpect.colour = 'red'\n", 4, "expect.colour: unknown key"),
    ("program = 'fw.c'\n[[case]]\npacket = 'Ether()/Nonsense()'\n", 3, "bad packet expression"),
    ("program = 'fw.c'\n[[maps.m]]\nkey = '00'\n[[case]]\npacket_hex = '00'\n", 2, "needs key and value"),
    ("prog = 'x'\n[[case]]\npacket_hex = '00'\n", 1, "program: required"),
    ("program = 'fw.c'\n", 1, "at least one [[case]]"),
    ("program = 'fw.c'\n[[case]]\nname = 'a'\npacket_hex='00'\n[[case]]\nname = 'b'\nctx = { ifindex = 3 }\npacket_hex='00'\n", 7, "ctx.ifindex: unknown key"),
]


@pytest.mark.parametrize("text, line, message", BAD)
def test_bad_spec_names_file_line_and_key(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert message in str(info.value)
    if "TOML syntax" not in message:
        assert str(info.value).startswith(f"{path}:{line}:")
    else:
        assert f"line {line}" in str(info.value)


@pytest.mark.parametrize("text, line, message", BAD[:4])
def test_bad_spec_exits_2_through_the_cli(tmp_path, text, line, message):
    path = write(tmp_path, text)
    result = CliRunner().invoke(cli, ["test", str(path)])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_missing_spec_path_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["test", str(tmp_path / "none.toml")])
    assert result.exit_code == 2 and "no such file" in result.output


@pytest.mark.parametrize(
    "expr, text, wanted",
    [
        ("drop", "fw.toml blocked is dropped", True),
        ("drop and not ipv6", "fw.toml ipv6 dropped", False),
        ("ipv6 or tcp", "fw.toml udp over ipv6", True),
        ("(a or b) and c", "a c", True),
    ],
)
def test_keyword_expressions(expr, text, wanted):
    assert matches(expr, text) is wanted
