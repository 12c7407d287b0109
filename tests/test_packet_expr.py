"""Packet expressions are parsed and walked over an allow-list, never evaluated as Python.

Good expressions must give exactly the bytes scapy builds for the same packet made in
Python here; escape attempts must be refused in one line and must run nothing: each one
would create a sentinel file in tmp_path if any of its code ran.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from test_replay_cli import blocklist_obj, invoke, needs_clang, one_line_error  # noqa: F401
from xdptool.packet_expr import MAX_DEPTH, MAX_SIZE, MAX_TEXT
from xdptool.packets import PacketError, scapy_bytes, scapy_packet
from xdptool.testing.runner import matches

ROOT = Path(__file__).resolve().parent.parent
MACS = "src='02:00:00:00:00:01', dst='02:00:00:00:00:02'"


def scapy_built():
    """(expression, the same packet built with scapy in Python): the differential pairs."""
    from scapy.all import (
        ARP, DNS, DNSQR, GRE, ICMP, IP, LLC, TCP, UDP, VXLAN, Dot1Q, Dot3, Ether, IPOption_EOL, IPOption_NOP, IPv6,
        IPv6ExtHdrRouting, Padding, Raw,
    )  # fmt: skip

    mac = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    v4 = {"src": "10.0.0.1", "dst": "10.0.0.2"}
    v6 = {"src": "2001:db8::1", "dst": "2001:db8::2"}
    return [
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(sport=40000, dport=53)",
         Ether(**mac) / IP(**v4) / UDP(sport=40000, dport=53)),
        (f"Ether({MACS})/IPv6(src='2001:db8::1', dst='2001:db8::2')/TCP(dport=443, flags='SA', seq=1000 + 5 * 2)",
         Ether(**mac) / IPv6(**v6) / TCP(dport=443, flags="SA", seq=1010)),
        (f"Ether({MACS})/Dot1Q(vlan=10, prio=5)/IP(src='10.0.0.1', dst='10.0.0.2')/ICMP(id=-1 + 2, seq=+3)",
         Ether(**mac) / Dot1Q(vlan=10, prio=5) / IP(**v4) / ICMP(id=1, seq=3)),
        ("Ether(src='02:00:00:00:00:01', dst='ff:ff:ff:ff:ff:ff')/ARP(op='who-has', psrc='10.0.0.1', pdst='10.0.0.2')",
         Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP(op="who-has", psrc="10.0.0.1", pdst="10.0.0.2")),
        (f"Ether({MACS})/IP(src='192.0.2.1', dst='198.51.100.1')/GRE()/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(dport=53)",
         Ether(**mac) / IP(src="192.0.2.1", dst="198.51.100.1") / GRE() / IP(**v4) / UDP(dport=53)),
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(dport=4789)/VXLAN(vni=42)/Ether({MACS})",
         Ether(**mac) / IP(**v4) / UDP(dport=4789) / VXLAN(vni=42) / Ether(**mac)),
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(dport=53)/DNS(rd=1, qd=DNSQR(qname='example.com', qtype=28))",
         Ether(**mac) / IP(**v4) / UDP(dport=53) / DNS(rd=1, qd=DNSQR(qname="example.com", qtype=28))),
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2', options=[IPOption_NOP()] * 3 + [IPOption_EOL()])/UDP()",
         Ether(**mac) / IP(**v4, options=[IPOption_NOP()] * 3 + [IPOption_EOL()]) / UDP()),
        (f"Ether({MACS})/IPv6(src='2001:db8::1', dst='2001:db8::2')/IPv6ExtHdrRouting(segleft=1, addresses=['2001:db8::9'])/TCP()",
         Ether(**mac) / IPv6(**v6) / IPv6ExtHdrRouting(segleft=1, addresses=["2001:db8::9"]) / TCP()),
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2')/TCP(options=[('MSS', 1460), ('NOP', None), ('WScale', 7)])",
         Ether(**mac) / IP(**v4) / TCP(options=[("MSS", 1460), ("NOP", None), ("WScale", 7)])),
        (f"Ether({MACS}, type=0x88cc)/Raw(b'\\x02\\x07' + b'\\x00' * 44)",
         Ether(**mac, type=0x88CC) / Raw(b"\x02\x07" + b"\x00" * 44)),
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(dport=9)/Raw(bytes.fromhex('de ad be ef'))/Padding(b'\\x00' * 4)",
         Ether(**mac) / IP(**v4) / UDP(dport=9) / Raw(b"\xde\xad\xbe\xef") / Padding(b"\x00" * 4)),
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(dport=7)/'echo me'",
         Ether(**mac) / IP(**v4) / UDP(dport=7) / "echo me"),
        (f"Ether({MACS})/IP(src='10.0.0.1', dst='10.0.0.2')/UDP(dport=7)/(b'\\x03' * 3)",
         Ether(**mac) / IP(**v4) / UDP(dport=7) / b"\x03\x03\x03"),
        ("Dot3(src='02:00:00:00:00:01', dst='01:80:c2:00:00:00')/LLC(dsap=0x42, ssap=0x42, ctrl=3)/Raw(b'\\x00' * 35)",
         Dot3(src="02:00:00:00:00:01", dst="01:80:c2:00:00:00") / LLC(dsap=0x42, ssap=0x42, ctrl=3) / Raw(b"\x00" * 35)),
        ("Ether(bytes.fromhex('ffffffffffff0200000000010800'))/IP(src='10.0.0.1', dst='10.0.0.2')",
         Ether(bytes.fromhex("ffffffffffff0200000000010800")) / IP(**v4)),
        (f"Ether({MACS})/Dot1Q(vlan=10, id=1)",  # `id` is scapy's old name for dei
         Ether(**mac) / Dot1Q(vlan=10, dei=1)),
    ]


@pytest.mark.filterwarnings("ignore:id has been deprecated:DeprecationWarning")  # the Dot1Q(id=...) case, on purpose
def test_expressions_give_the_bytes_scapy_builds():
    pairs = scapy_built()
    assert len(pairs) >= 12
    for expression, packet in pairs:
        assert scapy_bytes(expression) == bytes(packet), expression


def test_every_spec_packet_in_the_repository_evaluates():
    """programs/specs and the README use the language in earnest: all of it still parses."""
    import tomllib

    expressions = [f"Ether({MACS.replace(', ', ',')})/IP()/UDP()"]  # the README's `xdptool run` example
    for path in sorted((ROOT / "programs" / "specs").glob("*.toml")):
        for case in tomllib.loads(path.read_text()).get("case", []):
            for text in (case.get("packet"), case.get("expect", {}).get("packet")):
                if isinstance(text, str) and "(" in text:  # the others are hex
                    expressions.append(text)
    assert len(expressions) > 200
    for text in expressions:
        assert isinstance(scapy_bytes(text), bytes)


def test_a_bytes_expression_is_a_packet_and_other_values_are_not():
    assert scapy_bytes("b'\\x00' * 14") == bytes(14)
    with pytest.raises(PacketError, match="gave str, not a packet"):
        scapy_packet("'not a packet'")


ESCAPES = [
    ("__import__('os').system('{cmd}')", "only scapy layers can be called, not __import__('os').system"),
    ("__import__('os')", "name '__import__' is not a scapy layer"),
    ("os.system('{cmd}')", "only scapy layers can be called, not os.system"),
    ("(os.system('{cmd}'), Ether())[1]", "a subscript"),
    ("[os.system('{cmd}'), Ether()]", "only scapy layers can be called, not os.system"),
    ("Ether()/os.system('{cmd}')", "only scapy layers can be called, not os.system"),
    ("().__class__.__subclasses__()", "not ().__class__.__subclasses__"),
    ("().__class__.__base__", "attribute access (.__base__)"),
    ("Ether().__class__.__init__.__globals__", "attribute access (.__globals__)"),
    ("Ether().__class__.__init__.__globals__['os'].system('{cmd}')", "not Ether().__class__.__init__.__globals__['os'].system"),
    ("scapy.all.os", "attribute access (.os)"),
    ("scapy.all.os.system('{cmd}')", "not scapy.all.os.system"),
    ("(lambda: os.system('{cmd}'))()", "only scapy layers can be called, not lambda"),
    ("lambda: 1", "a lambda"),
    ("[os.system('{cmd}') for _ in (1,)]", "a comprehension"),
    ("{{os.system('{cmd}') for _ in (1,)}}", "a comprehension"),
    ("(os.system('{cmd}') for _ in (1,))", "a generator expression"),
    ("eval(\"os.system('{cmd}')\")", "name 'eval' is not a scapy layer"),
    ("exec(\"os.system('{cmd}')\")", "name 'exec' is not a scapy layer"),
    ("compile('1', 'x', 'eval')", "name 'compile' is not a scapy layer"),
    ("open('/etc/passwd')", "name 'open' is not a scapy layer"),
    ("getattr(Ether, 'x')", "name 'getattr' is not a scapy layer"),
    ("Ether(src=os.getcwd())", "only scapy layers can be called, not os.getcwd"),
    ("Ether(src=os)", "name 'os' is not a scapy layer"),
    ("Ether(**{{'src': os.getcwd()}})", "keyword unpacking"),
    ("Ether(*[os.getcwd()])", "a starred argument"),
    ("Ether(_pkt=b'')", "Ether has no field '_pkt'"),
    ("Ether(post_transform=1)", "Ether has no field 'post_transform'"),
    ("Ether(__class__=1)", "Ether has no field '__class__'"),
    ("Ether(nonsense=1)", "Ether has no field 'nonsense' (fields: dst, src, type)"),
    ("Ether(b'', 1)", "at most one positional argument"),
    ("(s := os.system('{cmd}'))", "an assignment expression (:=)"),
    ("f\"{{os.system('{cmd}')}}\"", "an f-string"),
    ("Ether() if os.system('{cmd}') else IP()", "a conditional expression"),
    ("Ether() and os.system('{cmd}')", "and/or"),
    ("{{'a': os.system('{cmd}')}}", "a dict"),
    ("Ether", "Ether is a layer class: call it, as in Ether()"),
    ("RandShort()", "name 'RandShort' is not a scapy layer"),
    ("UDP(sport=RandShort())", "name 'RandShort' is not a scapy layer"),
    ("Ether()/Nope()", "name 'Nope' is not a scapy layer"),
    ("bytes.fromhex(os.getcwd())", "only scapy layers can be called, not os.getcwd"),
    ("bytes(10)", "name 'bytes' is not a scapy layer"),
    ("b'x' * 10**12", "operator ** is not allowed"),
    ("b'x' * 1000000000000", f"a value of 1000000000000 bytes, over the {MAX_SIZE}-byte limit"),
    ("Raw(b'x' * 65537)", "a value of 65537 bytes"),
    ("[b'x' * 65536] * 65536", "over the"),
    ("[Raw(b'x' * 60000)] * 2", "over the"),
    ("Raw('x' * 40000 + 'y' * 40000)", "a value of 80000 bytes"),
    ("(" * 1000 + "Ether()" + ")" * 1000, "SyntaxError: too many nested parentheses"),
    ("-" * 5000 + "1", f"nested deeper than {MAX_DEPTH} levels"),
    ("/".join(["Ether()"] * 200), f"nested deeper than {MAX_DEPTH} levels"),
    ("Raw(b'" + "x" * 1_000_000 + "')", f"longer than {MAX_TEXT} characters (1000008)"),
    ("Ether(", "SyntaxError"),
    ("1 / 0", "/ stacks layers, not int / int"),
    ("1.5 * " + "9" * 400, "OverflowError"),
]


@pytest.mark.parametrize("template, fragment", ESCAPES, ids=range(len(ESCAPES)))
def test_escape_attempts_are_refused_in_one_line_and_run_nothing(tmp_path, template, fragment):
    sentinel = tmp_path / "pwned"
    expression = template.format(cmd=f"touch {sentinel}") if "{" in template else template
    with pytest.raises(PacketError) as info:
        scapy_bytes(expression)
    message = str(info.value)
    assert fragment in message and message.startswith("bad packet expression ")
    assert "\n" not in message and len(message) < 400
    assert not sentinel.exists()


def test_the_sentinel_attacks_are_real_under_python_eval(tmp_path):
    """The old evaluator (eval over scapy.all's names, no builtins) ran these: the refusals above matter.

    Run in a child process on this file's own strings, to prove the sentinel check can fail.
    """
    attacks = [
        "os.system('{cmd}')", "(os.system('{cmd}'), Ether())[1]", "[os.system('{cmd}'), Ether()]",
        "Ether()/os.system('{cmd}')", "Ether() and os.system('{cmd}')",
    ]  # fmt: skip
    assert set(attacks) <= {template for template, _ in ESCAPES}
    script = textwrap.dedent(
        """
        import sys
        import scapy.all as scapy
        names = {n: getattr(scapy, n) for n in dir(scapy) if not n.startswith("_")}
        names["__builtins__"] = {}
        for i, attack in enumerate(sys.argv[2:]):
            try:
                eval(attack.format(cmd=f"touch {sys.argv[1]}/{i}"), names, {})
            except Exception:
                pass
        """
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path), *attacks], check=True, capture_output=True, timeout=60)
    assert sorted(p.name for p in tmp_path.iterdir()) == [str(i) for i in range(len(attacks))]


# -- the same refusals through the commands that read packet expressions --

EVIL = "(os.system('touch {sentinel}'), Ether())[1]"


def evil_spec(directory: Path, name: str) -> tuple[Path, Path]:
    sentinel = directory / "pwned"
    spec = directory / name
    spec.write_text(
        f'program = "{ROOT / "programs" / "port_blocklist.c"}"\n'
        "[[case]]\n"
        'name = "evil"\n'
        f'packet = "{EVIL.format(sentinel=sentinel)}"\n'
        'expect.verdict = "XDP_PASS"\n'
    )
    return spec, sentinel


def test_xdptool_test_refuses_an_escape_in_a_spec(tmp_path):
    spec, sentinel = evil_spec(tmp_path, "evil.toml")
    line = one_line_error(invoke("test", spec))
    assert "bad packet expression" in line and "a subscript" in line and str(spec) in line
    assert not sentinel.exists()


def test_pytest_collect_only_refuses_an_escape_in_a_spec_file(tmp_path):
    spec, sentinel = evil_spec(tmp_path, "test_evil.toml")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", str(spec)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "bad packet expression" in done.stdout + done.stderr, done.stdout + done.stderr  # the plugin did read it
    assert done.returncode != 0
    assert not sentinel.exists()


@needs_clang
def test_xdptool_run_refuses_an_escape(tmp_path, blocklist_obj):
    sentinel = tmp_path / "pwned"
    line = one_line_error(invoke("run", blocklist_obj, "--scapy", EVIL.format(sentinel=sentinel)))
    assert "bad packet expression" in line and "a subscript" in line
    assert not sentinel.exists()


# -- `xdptool test -k`: also parsed, never evaluated --


@pytest.mark.parametrize(
    "expression, text, wanted",
    [
        ("not a or b", "a", False),  # not binds tighter than or
        ("a or b and c", "a", True),  # and binds tighter than or
        ("(a or b) and c", "a", False),
        ("not not a", "A", True),  # case-insensitive
        ("x and not (y or z)", "x z", False),
        ("__import__", "__import__ is a word here", True),
    ],
)
def test_keyword_expression_precedence(expression, text, wanted):
    assert matches(expression, text) is wanted


@pytest.mark.parametrize(
    "expression, fragment",
    [
        ("", "expected a word, got the end"),
        ("a b", "unexpected 'b'"),
        ("(a", "missing )"),
        ("a or", "expected a word, got the end"),
        ("__import__('os')", "unexpected '('"),
        ("not " * 1000 + "a", "nested deeper than 50 levels"),
        ("(" * 1000 + "a" + ")" * 1000, "nested deeper than 50 levels"),
    ],
)
def test_bad_keyword_expressions_are_one_line_errors(expression, fragment):
    from xdptool.errors import XdpError

    with pytest.raises(XdpError) as info:
        matches(expression, "a")
    assert fragment in str(info.value)


def test_readme_states_the_limits_the_code_enforces():
    readme = (ROOT / "README.md").read_text()
    assert f"Limits: {MAX_TEXT:,} characters, {MAX_DEPTH} levels of nesting, {MAX_SIZE // 1024} KiB per value." in readme
