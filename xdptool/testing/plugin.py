"""pytest plugin: the `xdp` fixture and `test_*.toml` spec files as pytest items.

    def test_blocked(xdp):
        prog = xdp.load("fw.c")
        prog.maps["blocklist"][b"\\x0a\\x00\\x00\\x01"] = b"\\x01"
        res = prog.run(Ether()/IP(src="10.0.0.1")/UDP(dport=53))
        assert res.verdict == "XDP_DROP"

Registered through the `pytest11` entry point, so installing xdptool is enough.
Nothing heavy is imported until a test uses it.

Each [[case]] of a spec file is one pytest item, `test_fw.toml::blocked source is
dropped` (with `[target]` appended when the spec runs on several), so `-k` and node
ids select cases.  The cases of a file run once, in order, on first use: a selected
case sees the map state the cases before it left, as in a full run (runner.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser) -> None:
    group = parser.getgroup("xdptool")
    group.addoption(
        "--xdp-target",
        default=None,
        help="engine for the xdp fixture and spec files: vm, jit, kernel, nfp-emu, or all (spec files); "
             "default: a spec's own target, else jit",
    )


def _to_bytes(value: Any, size: int) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, int):
        return value.to_bytes(size, "little")
    if isinstance(value, str):
        return bytes.fromhex(value)
    raise TypeError(f"expected bytes, an int or a hex string, got {type(value).__name__}")


class MapView:
    """dict-like access to one map of a loaded program (keys/values as bytes, ints or hex)."""

    def __init__(self, runtime_map):
        self._map = runtime_map

    def _key(self, key) -> bytes:
        return _to_bytes(key, self._map.key_size)

    def __getitem__(self, key) -> bytes | list[bytes]:
        value = self._map.lookup(self._key(key))
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key, value) -> None:
        if isinstance(value, list):
            value = [_to_bytes(v, self._map.value_size) for v in value]
        else:
            value = _to_bytes(value, self._map.value_size)
        err = self._map.update(self._key(key), value)
        if err:
            raise KeyError(f"update of {self._map.name} failed with errno {-err}")

    def __delitem__(self, key) -> None:
        if self._map.delete(self._key(key)):
            raise KeyError(key)

    def __contains__(self, key) -> bool:
        return self._map.lookup(self._key(key)) is not None

    def items(self):
        return [(k, self._map.lookup(k)) for k in self._map.keys()]

    def __len__(self) -> int:
        return len(list(self._map.keys()))


class Result:
    def __init__(self, raw):
        self.raw = raw
        self.verdict = raw.verdict
        self.retval = raw.retval
        self.data = bytes(raw.packet)
        self.redirect = raw.redirect
        self.fault = raw.fault
        self.trace_printk = raw.trace_printk

    @property
    def packet(self):
        from ..packets import dissect

        return dissect(self.data)


class LoadedProgram:
    def __init__(self, path: Path, prog: str | None, target: str):
        from ..runtime.engines import make_engine
        from ..runtime.maps import MapStore
        from .runner import load_program

        self.object, self.program = load_program(path, prog)  # a .c: built into the cache
        self.store = MapStore(self.object.maps)
        self.engine = make_engine(target, self.program, self.store)
        self.maps = {name: MapView(self.store[name]) for name in self.object.maps}

    def run(self, packet, **ctx) -> Result:
        from ..runtime.contract import XdpContext

        data = packet if isinstance(packet, (bytes, bytearray)) else bytes(packet)
        return Result(self.engine.run(bytes(data), XdpContext(**ctx)))

    def close(self) -> None:
        self.engine.close()


class XdpFixture:
    def __init__(self, target: str, base: Path):
        self.target, self.base = target, base
        self._loaded: list[LoadedProgram] = []

    def load(self, path: str | Path, prog: str | None = None, target: str | None = None) -> LoadedProgram:
        p = Path(path)
        if not p.is_absolute():
            p = (self.base / p) if (self.base / p).exists() else p.resolve()
        loaded = LoadedProgram(p, prog, target or self.target)
        self._loaded.append(loaded)
        return loaded

    def close(self) -> None:
        for loaded in self._loaded:
            loaded.close()


@pytest.fixture
def xdp(request):
    fixture = XdpFixture(request.config.getoption("--xdp-target") or "jit", Path(request.fspath).parent)
    yield fixture
    fixture.close()


# -- spec files as pytest items -------------------------------------------------


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix == ".toml" and file_path.name.startswith("test_"):
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    """A spec file: one item per case (per case and target when it runs on several)."""

    def collect(self):
        from .spec import load_spec

        self.spec = load_spec(self.path)
        self.targets = spec_targets(self.config.getoption("--xdp-target"), self.spec.target)
        self._results = None
        seen: dict[str, int] = {}
        for case in self.spec.cases:
            seen[case.name] = seen.get(case.name, 0) + 1
            name = case.name if seen[case.name] == 1 else f"{case.name} ({seen[case.name]})"
            for target in self.targets:
                item_name = name if len(self.targets) == 1 else f"{name}[{target}]"
                yield SpecItem.from_parent(self, name=item_name, spec=self.spec, case=case, target=target)

    def results(self) -> list:
        """Every case on every target, run once in order (what each item reports from)."""
        if self._results is None:
            from .runner import run_spec

            self._results = run_spec(self.spec, self.targets)
        return self._results


def spec_targets(option: str | None, spec_target: str | None) -> list[str]:
    """--xdp-target, else the spec's `target`, else jit; `all`: every available engine."""
    from .runner import available_targets

    chosen = option or spec_target or "jit"
    return available_targets() if chosen == "all" else [chosen]


class SpecItem(pytest.Item):
    """One case of a spec on one target."""

    def __init__(self, *, spec, case, target, **kwargs):
        super().__init__(**kwargs)
        self.spec, self.case, self.target = spec, case, target

    def runtest(self) -> None:
        spec_file = self.parent
        assert isinstance(spec_file, SpecFile)  # SpecFile.collect makes every SpecItem
        mine = [r for r in spec_file.results() if r.case is self.case and r.target == self.target]
        if not mine:
            raise SpecFailure([], f"case {self.case.name!r} did not run on {self.target}")
        (result,) = mine
        if result.skipped:
            pytest.skip(result.skipped)
        if result.failures:
            raise SpecFailure([result])

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SpecFailure):
            return str(excinfo.value) if not excinfo.value.results else "\n".join(
                f"{r.case.name} [{r.target}]: " + "; ".join(r.failures) for r in excinfo.value.results)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, self.case.line - 1, f"xdp spec case {self.name}"


class SpecFailure(Exception):
    def __init__(self, results, message: str | None = None):
        super().__init__(message or f"{len(results)} case(s) failed")
        self.results = results
