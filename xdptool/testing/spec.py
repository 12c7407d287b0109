"""The test-spec format: TOML files describing packets in and expectations out.

    program = "fw.c"          # built automatically (cached by content hash), or an .o
    include = ["../include"]  # optional, for a .c: -I directories (relative to the spec), -D macros,
    defines = ["MAX=4"]       #   more clang flags
    cflags = ["-mcpu=v3"]
    prog = "xdp_fw"           # optional: program name or section
    target = "jit"            # optional default target
    targets = ["vm", "jit"]   # optional: the only engines these cases can run on

    [runtime]                 # optional: the run's environment, as replay --runtime FILE.json
    ncpus = 2                 #   (runtime/config.py RUNTIME_KEYS; the kernel and nfp-emu take few)
    fib_table = [{ prefix = "10.0.0.0/8", ifindex = 3, dmac = "02:00:00:00:00:03" }]

    [[maps.blocklist]]        # initial map contents, hex bytes as stored in memory
    key = "0a000001"
    value = "01"

    [[case]]
    name = "blocked source is dropped"
    packet = "Ether(dst='02:00:00:00:00:02', src='02:00:00:00:00:01')/IP(src='10.0.0.1')/UDP(dport=53)"
    ctx = { ingress_ifindex = 2, rx_queue_index = 0 }      # optional
    targets = ["vm", "jit"]                                # optional: only these engines
    expect.verdict = "XDP_DROP"
    expect.packet = "..."                                  # scapy expression or hex
    expect.maps.counters = [{ key = "00000000", value = "01000000" }, { key = "01000000", absent = true }]
    expect.redirect = { ifindex = 3 }
    expect.trace_printk = ["hello"]
    expect.fault = true                                    # only when a fault is the point

Give scapy packets explicit MAC addresses: `Ether()` alone asks the host's
routing and ARP tables, which differ from machine to machine.

Parsing is strict: an unknown key, bad hex, an unknown verdict or map is a
SpecError naming the file, the line and the key, so CI fails for the right reason.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import XdpError
from ..runtime.config import MAX_NCPUS, RuntimeConfig, RuntimeKeyError, runtime_config
from ..runtime.contract import VERDICT_BY_NAME
from ..runtime.engines import TARGETS

TOP_KEYS = {"program", "prog", "target", "targets", "maps", "case", "ncpus", "runtime", "description", "include", "defines",
            "cflags"}
BUILD_KEYS = {"include": "includes", "defines": "defines", "cflags": "cflags"}  # spec key -> toolchain.build_cached argument
CASE_KEYS = {"name", "packet", "packet_hex", "ctx", "expect", "fresh_maps", "skip", "targets"}
EXPECT_KEYS = {"verdict", "packet", "packet_hex", "maps", "redirect", "trace_printk", "retval", "fault"}
CTX_KEYS = {"ingress_ifindex", "rx_queue_index", "egress_ifindex"}
ENTRY_KEYS = {"key", "value", "absent"}


class SpecError(XdpError):
    """A malformed spec file: names the file, line and key."""


@dataclass
class MapEntry:
    key: bytes
    value: bytes | list[bytes] | None  # per-CPU maps: one value per CPU; None: must be absent


@dataclass
class Expect:
    verdict: int | None = None
    retval: int | None = None
    packet: bytes | None = None
    maps: dict[str, list[MapEntry]] = field(default_factory=dict)
    redirect: dict[str, int] | None = None
    trace_printk: list[str] | None = None
    fault: bool = False


@dataclass
class Case:
    name: str
    packet: bytes
    line: int
    ctx: dict[str, int] = field(default_factory=dict)
    expect: Expect = field(default_factory=Expect)
    fresh_maps: bool = False
    skip: str | None = None
    targets: list[str] | None = None


@dataclass
class Spec:
    path: Path
    program: Path
    prog: str | None
    target: str | None
    maps: dict[str, list[MapEntry]]
    cases: list[Case]
    ncpus: int | None = None
    runtime: RuntimeConfig | None = None  # the [runtime] table (runtime/config.py RUNTIME_KEYS), with ncpus
    text: str = ""  # the file's text, for locating keys in later messages
    build: dict = field(default_factory=dict)  # toolchain.build_cached keywords for a .c program


class _Locator:
    """Finds the line of a key in the TOML text (tomllib keeps no positions)."""

    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = text.splitlines()
        self.case_lines = [i + 1 for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*case\s*\]\]", line)]

    def line_of(self, key: str, case: int | None = None) -> int:
        start = self.case_lines[case] - 1 if case is not None and case < len(self.case_lines) else 0
        end = self.case_lines[case + 1] - 1 if case is not None and case + 1 < len(self.case_lines) else len(self.lines)
        leaf = re.sub(r"\[\d+\]$", "", key.split(".")[-1])
        for number in range(start, end):
            if re.search(rf"(^|[\s.{{,\[]){re.escape(leaf)}\s*=|\[\[?\s*[\w.]*{re.escape(leaf)}\s*\]", self.lines[number]):
                return number + 1
        return start + 1

    def error(self, message: str, key: str, case: int | None = None) -> SpecError:
        return SpecError(f"{self.path}:{self.line_of(key, case)}: {key}: {message}")


def parse_hex(text: Any, where: str, loc: _Locator, case: int | None = None) -> bytes:
    if not isinstance(text, str):
        raise loc.error(f"expected a hex string, got {type(text).__name__}", where, case)
    cleaned = re.sub(r"[\s:]", "", text)
    if cleaned.startswith(("0x", "0X")):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise loc.error(f"bad hex {text!r}", where, case) from None


def parse_verdict(value: Any, where: str, loc: _Locator, case: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise loc.error(f"expected a verdict name or number, got {value!r}", where, case)
    if isinstance(value, int):
        return value
    name = value.upper()
    if not name.startswith("XDP_"):
        name = "XDP_" + name
    if name not in VERDICT_BY_NAME:
        known = ", ".join(VERDICT_BY_NAME)
        raise loc.error(f"unknown verdict {value!r} (one of {known}, or a number)", where, case)
    return VERDICT_BY_NAME[name]


def build_packet(expression: str, where: str, loc: _Locator, case: int) -> bytes:
    """Evaluate a scapy expression with scapy's names only."""
    from ..packets import scapy_bytes

    try:
        return scapy_bytes(expression)
    except XdpError as exc:
        raise loc.error(str(exc), where, case) from None


def _check_keys(table: dict, allowed: set[str], where: str, loc: _Locator, case: int | None = None) -> None:
    for key in table:
        if key not in allowed:
            full = f"{where}.{key}" if where else key
            raise loc.error(f"unknown key (allowed: {', '.join(sorted(allowed))})", full, case)


def _entries(raw: Any, where: str, loc: _Locator, case: int | None = None) -> list[MapEntry]:
    if not isinstance(raw, list):
        raise loc.error("expected a list of {key, value} tables", where, case)
    entries = []
    for item in raw:
        if not isinstance(item, dict):
            raise loc.error("expected a {key, value} table", where, case)
        _check_keys(item, ENTRY_KEYS, where, loc, case)
        if item.get("absent") is True and "key" in item and "value" not in item and case is not None:
            entries.append(MapEntry(parse_hex(item["key"], where + ".key", loc, case), None))
            continue
        if "key" not in item or "value" not in item or "absent" in item:
            raise loc.error("each entry needs key and value (or, in expect.maps, key and absent = true)", where, case)
        value = item["value"]
        if isinstance(value, list):
            parsed: bytes | list[bytes] = [parse_hex(v, where + ".value", loc, case) for v in value]
        else:
            parsed = parse_hex(value, where + ".value", loc, case)
        entries.append(MapEntry(parse_hex(item["key"], where + ".key", loc, case), parsed))
    return entries


def _maps(raw: Any, where: str, loc: _Locator, case: int | None = None) -> dict[str, list[MapEntry]]:
    if not isinstance(raw, dict):
        raise loc.error("expected a table of map names", where, case)
    return {name: _entries(value, f"{where}.{name}", loc, case) for name, value in raw.items()}


def _packet(table: dict, prefix: str, loc: _Locator, index: int, required: bool) -> bytes | None:
    if "packet" in table and "packet_hex" in table:
        raise loc.error("give either packet or packet_hex, not both", f"{prefix}packet_hex", index)
    if "packet_hex" in table:
        return parse_hex(table["packet_hex"], f"{prefix}packet_hex", loc, index)
    if "packet" in table:
        value = table["packet"]
        if not isinstance(value, str):
            raise loc.error("expected a scapy expression or hex string", f"{prefix}packet", index)
        if re.fullmatch(r"(0x)?[0-9a-fA-F\s:]+", value) and len(re.sub(r"\s", "", value)) % 2 == 0:
            return parse_hex(value, f"{prefix}packet", loc, index)
        return build_packet(value, f"{prefix}packet", loc, index)
    if required:
        raise loc.error("a case needs packet or packet_hex", f"{prefix}packet", index)
    return None


def _expect(raw: Any, loc: _Locator, index: int) -> Expect:
    if not isinstance(raw, dict):
        raise loc.error("expected a table", "expect", index)
    _check_keys(raw, EXPECT_KEYS, "expect", loc, index)
    expect = Expect()
    if "verdict" in raw:
        expect.verdict = parse_verdict(raw["verdict"], "expect.verdict", loc, index)
    if "retval" in raw:
        if not isinstance(raw["retval"], int):
            raise loc.error("expected an integer", "expect.retval", index)
        expect.retval = raw["retval"]
    expect.packet = _packet(raw, "expect.", loc, index, required=False)
    if "maps" in raw:
        expect.maps = _maps(raw["maps"], "expect.maps", loc, index)
    if "redirect" in raw:
        redirect = raw["redirect"]
        if not isinstance(redirect, dict) or not all(isinstance(v, int) for v in redirect.values()):
            raise loc.error("expected a table of integers, e.g. { ifindex = 3 }", "expect.redirect", index)
        expect.redirect = redirect
    if "fault" in raw:
        if not isinstance(raw["fault"], bool):
            raise loc.error("expected true or false", "expect.fault", index)
        expect.fault = raw["fault"]
    if "trace_printk" in raw:
        lines = raw["trace_printk"]
        if not isinstance(lines, list) or not all(isinstance(v, str) for v in lines):
            raise loc.error("expected a list of strings", "expect.trace_printk", index)
        expect.trace_printk = lines
    return expect


def _case(raw: Any, loc: _Locator, index: int, spec_targets: list[str] | None = None) -> Case:
    if not isinstance(raw, dict):
        raise loc.error("expected a table", "case", index)
    _check_keys(raw, CASE_KEYS, "", loc, index)
    name = raw.get("name", f"case {index + 1}")
    if not isinstance(name, str):
        raise loc.error("expected a string", "name", index)
    ctx = raw.get("ctx", {})
    if not isinstance(ctx, dict):
        raise loc.error("expected a table", "ctx", index)
    _check_keys(ctx, CTX_KEYS, "ctx", loc, index)
    for key, value in ctx.items():
        if not isinstance(value, int) or not 0 <= value < 1 << 32:
            raise loc.error("expected a u32", f"ctx.{key}", index)
    fresh = raw.get("fresh_maps", False)
    if not isinstance(fresh, bool):
        raise loc.error("expected true or false", "fresh_maps", index)
    targets = _targets(raw["targets"], "targets", loc, index) if "targets" in raw else spec_targets
    return Case(
        name=name,
        targets=targets,
        packet=_packet(raw, "", loc, index, required=True),
        line=loc.case_lines[index] if index < len(loc.case_lines) else 1,
        ctx=ctx,
        expect=_expect(raw.get("expect", {}), loc, index),
        fresh_maps=fresh,
        skip=_skip(raw.get("skip"), loc, index),
    )


def _skip(value: Any, loc: _Locator, index: int) -> str | None:
    """`skip = "why"` or `skip = true`: the reason the case is skipped (None: it runs)."""
    if value is None or value is False or value == "":
        return None
    if value is True:
        return "skipped in the spec"
    if not isinstance(value, str):
        raise loc.error("expected a reason (a string) or true", "skip", index)
    return value


def _targets(value: Any, where: str, loc: _Locator, case: int | None = None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise loc.error("expected a list of engine names", where, case)
    for name in value:
        _target_name(name, where, loc, case)
    return value


def _target_name(name: Any, where: str, loc: _Locator, case: int | None = None, extra: tuple = ()) -> str:
    if not isinstance(name, str):
        raise loc.error("expected a string", where, case)
    if name not in TARGETS + extra:
        raise loc.error(f"unknown target {name!r} (targets: {', '.join(TARGETS + extra)})", where, case)
    return name


def _ncpus(value: Any, loc: _Locator) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NCPUS:
        raise loc.error(f"expected an integer from 1 to {MAX_NCPUS}, got {value!r}", "ncpus")
    return value


def _runtime(doc: dict, loc: _Locator) -> RuntimeConfig | None:
    """The [runtime] table as the engines' RuntimeConfig (the same keys as replay --runtime's
    file); the older top-level `ncpus` is its ncpus, and not both."""
    ncpus = _ncpus(doc.get("ncpus"), loc)
    if "runtime" not in doc:
        return RuntimeConfig(ncpus=ncpus) if ncpus else None
    table = doc["runtime"]
    if ncpus is not None and isinstance(table, dict) and "ncpus" in table:
        raise loc.error("given twice: at the top and in [runtime]; keep runtime.ncpus", "ncpus")
    try:
        config = runtime_config(table)
    except RuntimeKeyError as exc:
        key = "runtime" if exc.key == "runtime" else f"runtime.{exc.key}"
        raise loc.error(exc.message, key) from None
    return runtime_config({"ncpus": ncpus}, config) if ncpus else config


def _build(doc: dict, base: Path, loc: _Locator) -> dict:
    """include/defines/cflags: lists of strings; include directories relative to the spec."""
    build = {}
    for key, argument in BUILD_KEYS.items():
        if key not in doc:
            continue
        value = doc[key]
        if not isinstance(value, list) or not all(isinstance(v, str) and v and "\0" not in v for v in value):
            raise loc.error("expected a list of strings", key)
        build[argument] = tuple(str(base / v) for v in value) if key == "include" else tuple(value)
    return build


def load_spec(path: str | Path) -> Spec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8") from None
    loc = _Locator(path, text)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path}: TOML syntax error: {exc}") from None
    except RecursionError:
        raise SpecError(f"{path}: TOML nested too deeply") from None
    except ValueError as exc:  # an integer over Python's 4,300-digit conversion limit
        raise SpecError(f"{path}: unusable TOML: {str(exc).split(';')[0]}") from None
    _check_keys(doc, TOP_KEYS, "", loc)
    program = doc.get("program")
    if not isinstance(program, str) or not program or "\0" in program:
        raise loc.error("required: the program to test (.c or .o)", "program")
    prog = doc.get("prog")
    if prog is not None and not isinstance(prog, str):
        raise loc.error("expected a program name or section (a string)", "prog")
    target = doc.get("target")
    if target is not None:
        _target_name(target, "target", loc, extra=("all",))
    targets = _targets(doc["targets"], "targets", loc) if "targets" in doc else None
    cases_raw = doc.get("case", [])
    if not isinstance(cases_raw, list) or not cases_raw:
        raise loc.error("a spec needs at least one [[case]]", "case")
    return Spec(
        path=path,
        program=(path.parent / program).resolve(),
        prog=prog,
        target=target,
        maps=_maps(doc.get("maps", {}), "maps", loc),
        cases=[_case(raw, loc, i, targets) for i, raw in enumerate(cases_raw)],
        ncpus=_ncpus(doc.get("ncpus"), loc),
        runtime=_runtime(doc, loc),
        text=text,
        build=_build(doc, path.parent, loc),
    )


def check_maps(spec: Spec, map_names) -> None:
    """Every map the spec names (initial contents, expect.maps) must be one of the program's:
    a misspelt map is a bad spec (exit 2), not a failing case."""
    loc = _Locator(spec.path, spec.text)
    named = [(f"maps.{name}", name, None) for name in spec.maps]
    named += [(f"expect.maps.{name}", name, i) for i, case in enumerate(spec.cases) for name in case.expect.maps]
    for key, name, case in named:
        if name not in map_names:
            raise loc.error(f"no map named {name!r} in {spec.program.name} (maps: {', '.join(map_names) or 'none'})",
                            key, case)


def find_specs(paths: list[str | Path]) -> list[Path]:
    """Spec files from files and directories (directories: every *.toml, recursively)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(sorted(p.rglob("*.toml")))
        elif p.exists():
            found.append(p)
        else:
            raise SpecError(f"{p}: no such file or directory")
    return found
