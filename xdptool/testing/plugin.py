"""pytest plugin: the `xdp` fixture and `test_*.toml` spec files as pytest items.

    def test_blocked(xdp):
        prog = xdp.load("fw.c")
        prog.maps["blocklist"][b"\\x0a\\x00\\x00\\x01"] = b"\\x01"
        res = prog.run(Ether()/IP(src="10.0.0.1")/UDP(dport=53))
        assert res.verdict == "XDP_DROP"

Registered through the `pytest11` entry point, so installing xdptool is enough.
Nothing heavy is imported until a test uses it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest


def pytest_addoption(parser) -> None:
    group = parser.getgroup("xdptool")
    group.addoption(
        "--xdp-target",
        default="jit",
        help="engine for the xdp fixture and spec files: vm, jit, kernel, nfp-emu (default jit)",
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

        self.object, self.program = load_program(path, prog)
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
    fixture = XdpFixture(request.config.getoption("--xdp-target"), Path(request.fspath).parent)
    yield fixture
    fixture.close()


# -- spec files as pytest items -------------------------------------------------


def pytest_collect_file(parent, file_path: Path):
    if file_path.suffix == ".toml" and file_path.name.startswith("test_"):
        return SpecFile.from_parent(parent, path=file_path)
    return None


class SpecFile(pytest.File):
    def collect(self):
        from .spec import load_spec

        spec = load_spec(self.path)
        yield SpecItem.from_parent(self, name=spec.path.stem, spec=spec)


class SpecItem(pytest.Item):
    """One spec file run in order (cases share map state, as in `xdptool test`)."""

    def __init__(self, *, spec, **kwargs):
        super().__init__(**kwargs)
        self.spec = spec

    def runtest(self) -> None:
        from .runner import run_spec

        target = self.config.getoption("--xdp-target") or self.spec.target or "jit"
        failed = [r for r in run_spec(self.spec, [target]) if r.failures]
        if failed:
            raise SpecFailure(failed)

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SpecFailure):
            return "\n".join(f"{r.case.name} [{r.target}]: " + "; ".join(r.failures) for r in excinfo.value.results)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, 0, f"xdp spec {self.name}"


class SpecFailure(Exception):
    def __init__(self, results):
        super().__init__(f"{len(results)} case(s) failed")
        self.results = results
