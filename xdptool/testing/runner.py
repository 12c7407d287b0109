"""Running test specs on one or more engines and judging the results.

Cases of a spec run in order on one MapStore, so map state carries from case to
case unless a case asks for `fresh_maps`.  Selecting cases (`-k`, a pytest node id)
never changes a case's result: the earlier cases it depends on (back to the last
`fresh_maps` one) run too, unreported.  With several targets each target gets its
own store; a case passes only if every target meets the expectations and, with
more than one target, all targets agree with each other.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import XdpError
from ..runtime.contract import RunResult, XdpContext, verdict_name
from ..runtime.engines import TARGETS
from ..runtime.maps_base import value_to_hex
from .spec import Case, MapEntry, Spec, check_maps



@dataclass
class CaseResult:
    spec: Spec
    case: Case
    target: str
    failures: list[str] = field(default_factory=list)
    result: RunResult | None = None
    skipped: str | None = None
    duration: float = 0.0  # seconds on this target

    @property
    def passed(self) -> bool:
        return self.skipped is None and not self.failures

    @property
    def test_id(self) -> str:
        return f"{self.spec.path.name}::{self.case.name}[{self.target}]"


# -- building and loading -----------------------------------------------------


def build_cached(source: Path, cache_dir: Path | None = None, **build) -> Path:
    """The object of a spec's .c, built once per content and flags (toolchain.build_cached:
    the same cache as every other command's implicit builds)."""
    from .. import toolchain

    return toolchain.build_cached(source, cache_dir=cache_dir, **build)


def load_program(spec_program: Path, prog: str | None, build: dict | None = None):
    from ..elf import load_object

    if not spec_program.exists():
        raise XdpError(f"{spec_program}: no such program")
    path = build_cached(spec_program, **(build or {})) if spec_program.suffix == ".c" else spec_program
    obj = load_object(path)
    return obj, obj.program(prog)


def map_state_doc(entries: dict[str, list[MapEntry]]) -> dict:
    """Spec map entries in the runtime's JSON map-state form."""
    return {name: [{"key": e.key.hex(), "value": value_to_hex(e.value)} for e in items]
            for name, items in entries.items()}


# -- judging ------------------------------------------------------------------


def _verdict_text(code: int) -> str:
    return verdict_name(code)


def judge(case: Case, result: RunResult, maps_doc: dict, unobservable: frozenset[str] = frozenset(),
          values=None) -> list[str]:
    """What differs between the expectations and the result (empty: pass).

    A fault fails the case unless the case expects one: a verified program that
    faults is a bug even when XDP_ABORTED was the expected verdict.  Fields the
    engine cannot observe (`Engine.unobservable`) are not judged on it.  `values`
    (elf.values.MapValues) shows map keys and values through the object's BTF
    beside their bytes.
    """
    from ..packets import field_differences

    failures: list[str] = []
    expect = case.expect
    if (result.fault is not None) != expect.fault:
        failures.append(f"fault: {result.fault}" if result.fault is not None else "fault: expected one, the run ended normally")
    actual_code = 0 if result.fault is not None else result.retval
    if expect.verdict is not None and actual_code != expect.verdict:
        failures.append(f"verdict: expected {_verdict_text(expect.verdict)}, got {result.verdict}")
    if expect.retval is not None and result.retval != expect.retval:
        failures.append(f"retval: expected {expect.retval}, got {result.retval}")
    if expect.packet is not None and bytes(result.packet) != expect.packet:
        diffs = field_differences(expect.packet, bytes(result.packet))
        failures.append("packet: " + "; ".join(diffs))
    if expect.redirect is not None and "redirect" not in unobservable:
        actual = result.redirect or {}
        for key, wanted in expect.redirect.items():
            if actual.get(key) != wanted:
                failures.append(f"redirect.{key}: expected {wanted}, got {actual.get(key)}")
    if expect.trace_printk is not None and "trace_printk" not in unobservable:
        if list(result.trace_printk) != expect.trace_printk:
            failures.append(f"trace_printk: expected {expect.trace_printk}, got {list(result.trace_printk)}")
    for name, entries in expect.maps.items():
        if name not in maps_doc:
            failures.append(f"map {name}: no such map (have {', '.join(maps_doc) or 'none'})")
            continue
        actual_entries = {e["key"]: e["value"] for e in maps_doc[name]}
        show = _Shown(values, name)
        for entry in entries:
            key = entry.key.hex()
            got = actual_entries.get(key)
            if entry.value is None:
                if got is not None:
                    failures.append(f"map {name} key {show.key(key)}: expected absent, got {show.value(got)}")
                continue
            wanted = value_to_hex(entry.value)
            if isinstance(got, list) and not isinstance(wanted, list):
                # a per-CPU map and one expected value: every CPU's copy must hold it
                if any(v != wanted for v in got):
                    cpus = ", ".join(f"cpu{i} {show.value(v)}" for i, v in enumerate(got))
                    failures.append(f"map {name} key {show.key(key)} (per-CPU, {len(got)} CPUs): expected "
                                    f"{show.value(wanted)} on every CPU, got {cpus}")
            elif isinstance(got, list) and len(got) != len(wanted):
                failures.append(f"map {name} key {show.key(key)} (per-CPU): expected values for {len(wanted)} CPUs, "
                                f"the run has {len(got)} (spec `ncpus`; one value instead of a list means every CPU)")
            elif got != wanted:
                failures.append(f"map {name} key {show.key(key)}: expected {show.value(wanted)}, "
                                f"got {show.value(got) if got is not None else '<absent>'}")
    return failures


class _Shown:
    """A map key or value for a failure message: through BTF with the hex beside it
    (`53 (0035)`, `{packets: 2} (02000000)`), the hex alone where BTF says nothing."""

    def __init__(self, values, name: str):
        self.values, self.name = values, name

    def key(self, key_hex: str) -> str:
        return self._with(key_hex, self.values.key(self.name, bytes.fromhex(key_hex)) if self.values else None)

    def value(self, value) -> str:
        raw = [bytes.fromhex(v) for v in value] if isinstance(value, list) else bytes.fromhex(value)
        return self._with(value, self.values.value(self.name, raw) if self.values else None)

    @staticmethod
    def _with(raw, formatted) -> str:
        from ..elf.values import render

        shown = render(raw) if isinstance(raw, list) else raw
        return shown if formatted is None else f"{render(formatted)} ({shown})"


COMPARED_FIELDS = ("verdict", "retval", "packet", "redirect", "trace_printk", "maps")


def comparable(result: RunResult, maps_doc: dict, unobservable: frozenset[str] = frozenset()) -> dict:
    """The observable outcome of a run, for comparing engines field by field."""
    seen = {
        "verdict": result.verdict,
        "retval": result.retval,
        "packet": bytes(result.packet),
        "redirect": result.redirect,
        "trace_printk": list(result.trace_printk),
        "maps": maps_doc,
    }
    return {name: value for name, value in seen.items() if name not in unobservable}


# -- running ------------------------------------------------------------------


class TargetRun:
    """One spec on one target: the engine and its map store, recreated for fresh_maps."""

    def __init__(self, spec: Spec, target: str, obj, program, coverage: bool = False):
        from ..runtime.config import RuntimeConfig

        self.spec, self.target, self.obj, self.program = spec, target, obj, program
        self.config = spec.runtime or RuntimeConfig()
        self.coverage = coverage
        self.engine = None
        self.reset()

    def reset(self) -> None:
        from ..runtime.engines import make_engine
        from ..runtime.maps import MapStore

        if self.engine is not None:
            self.engine.close()
        self.maps = MapStore(self.obj.maps, self.config)
        try:
            self.maps.load(map_state_doc(self.spec.maps))
        except XdpError as exc:
            raise XdpError(f"{self.spec.path}: maps: {exc}") from None
        self.engine = make_engine(self.target, self.program, self.maps, self.config)

    @property
    def unobservable(self) -> frozenset[str]:
        return frozenset(getattr(self.engine, "unobservable", ()))

    def run(self, case: Case) -> tuple[RunResult, dict]:
        """Run one case; an XdpError means this engine cannot run it (e.g. the
        kernel's test-run refuses packets under 14 bytes)."""
        if case.fresh_maps:
            self.reset()
        result = self.engine.run(case.packet, XdpContext(**case.ctx))
        return result, self.maps.dump()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()


def available_targets() -> list[str]:
    from ..runtime.engines import target_available

    return [t for t in TARGETS if target_available(t)[0]]


def run_spec(spec: Spec, targets: list[str], keyword: str | None = None, coverage=None,
             build: dict | None = None) -> list[CaseResult]:
    """Run a spec's cases in order on each target.

    With several targets (`--target all`), a target that refuses the program
    itself (the NFP offload refuses a devmap, say) skips its cases with the
    reason; with one target that refusal is an error, as the user asked for it.
    `build`: -I/-D/--cflags from the command line, after the spec's own.
    """
    from ..elf.values import MapValues

    options = {k: spec.build.get(k, ()) + (build or {}).get(k, ()) for k in {*spec.build, *(build or {})}}
    obj, program = load_program(spec.program, spec.prog, options)
    check_maps(spec, list(obj.maps))
    values = MapValues(obj)
    runs, refused, excluded = [], {}, []
    for target in targets:
        if all(case.targets and target not in case.targets for case in spec.cases):
            excluded.append(target)  # no case runs here: not worth an engine (an offload, a kernel load)
            continue
        try:
            runs.append(TargetRun(spec, target, obj, program))
        except XdpError as exc:
            if len(targets) == 1:
                raise
            refused[target] = f"{target} cannot load the program: {exc}"
    cover = None
    if coverage is not None:
        cover = coverage.engine_for(spec, obj, program)
    selected = [keyword is None or matches(keyword, f"{spec.path.name} {case.name}") for case in spec.cases]
    needed = needed_cases(spec.cases, selected)
    results: list[CaseResult] = []
    try:
        for case, wanted, runs_it in zip(spec.cases, selected, needed):
            if not runs_it:
                continue
            if cover is not None:
                cover.run(case)
            reported = results if wanted else []  # an unselected case runs for the state it leaves
            reported.extend(CaseResult(spec, case, target, skipped=why) for target, why in refused.items())
            reported.extend(CaseResult(spec, case, target, skipped=f"case limited to {', '.join(case.targets or ())}")
                            for target in excluded)
            outcomes = []
            for run in runs:
                reason = case.skip or (None if not case.targets or run.target in case.targets
                                       else f"case limited to {', '.join(case.targets)}")
                if reason:
                    reported.append(CaseResult(spec, case, run.target, skipped=str(reason)))
                    continue
                started = time.perf_counter()
                try:
                    result, maps_doc = run.run(case)
                except XdpError as exc:
                    reported.append(CaseResult(spec, case, run.target, skipped=f"{run.target} cannot run it: {exc}"))
                    continue
                elapsed = time.perf_counter() - started
                failures = judge(case, result, maps_doc, run.unobservable, values)
                outcome = CaseResult(spec, case, run.target, failures, result, duration=elapsed)
                outcomes.append((outcome, run.unobservable, result, maps_doc))
                reported.append(outcome)
            for outcome, blind, result, maps_doc in outcomes[1:]:
                first, first_blind, first_result, first_maps = outcomes[0]
                hidden = blind | first_blind
                ours, theirs = comparable(result, maps_doc, hidden), comparable(first_result, first_maps, hidden)
                differing = [name for name in ours if ours[name] != theirs[name]]
                if differing:
                    outcome.failures.append(
                        f"engines disagree: {outcome.target} and {first.target} differ in "
                        + ", ".join(describe_difference(name, theirs[name], ours[name]) for name in differing)
                    )
    finally:
        for run in runs:
            run.close()
    return results


def needed_cases(cases: list[Case], selected: list[bool]) -> list[bool]:
    """Which cases must run for the selected ones to see the map state a full run gives
    them: each selected case and every case before it back to (and including) the
    nearest one that starts from fresh maps."""
    needed, pending = [False] * len(cases), False
    for i in range(len(cases) - 1, -1, -1):
        needed[i] = selected[i] or pending
        pending = needed[i] and not cases[i].fresh_maps
    return needed


def describe_difference(name: str, first, other) -> str:
    if name == "packet":
        offset = next((i for i, (x, y) in enumerate(zip(first, other)) if x != y), min(len(first), len(other)))
        return f"packet (from byte {offset}; lengths {len(first)} and {len(other)})"
    return f"{name} ({first!r} vs {other!r})"


def matches(expression: str, text: str) -> bool:
    """A small -k: words joined by `and`/`or`/`not` and parentheses, each a case-insensitive substring.

    Parsed by recursive descent with Python's precedence (not, then and, then or), never
    handed to eval; nesting is bounded so a long `not not ...` is an error, not a crash.
    """
    tokens = re.findall(r"\(|\)|\band\b|\bor\b|\bnot\b|[^\s()]+", expression)
    haystack, position, max_depth = text.lower(), 0, 50

    def bad(why: str) -> XdpError:
        return XdpError(f"bad -k expression {expression!r}: {why}")

    def take() -> str | None:
        nonlocal position
        position += 1
        return tokens[position - 1] if position <= len(tokens) else None

    def either(depth: int) -> bool:
        value = both(depth)
        while tokens[position:position + 1] == ["or"]:
            take()
            value = both(depth) or value  # parse the right side even when the left is true
        return value

    def both(depth: int) -> bool:
        value = term(depth)
        while tokens[position:position + 1] == ["and"]:
            take()
            value = term(depth) and value
        return value

    def term(depth: int) -> bool:
        if depth > max_depth:
            raise bad(f"nested deeper than {max_depth} levels")
        token = take()
        if token == "not":
            return not term(depth + 1)
        if token == "(":
            value = either(depth + 1)
            if take() != ")":
                raise bad("missing )")
            return value
        if token in (None, ")", "and", "or"):
            raise bad(f"expected a word, got {repr(token) if token else 'the end'}")
        return token.lower() in haystack

    value = either(0)
    if position < len(tokens):
        raise bad(f"unexpected {tokens[position]!r}")
    return value
