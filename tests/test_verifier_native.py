"""The compiled verifier against the interpreted one, and the guard that chooses between them.

The same analyses run in this process (compiled when the build is current) and
in a child process with XDPTOOL_PURE_PYTHON set (every module from its .py):
verdicts, full level-2 logs, statistics and facts must be identical, on every
example, every corpus case and random programs.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xdptool.verifier import native

HERE = Path(__file__).resolve().parent
RANDOM_SEEDS = range(300)

# Run in both processes: a digest per program of everything the verifier reports.
DIGESTS = r"""
import hashlib, importlib.util, json, sys
from pathlib import Path
from xdptool.elf import load_object
from xdptool.verifier import analyze, native
from xdptool.verifier.fuzz import random_program

def fact_text(pc_facts):
    regs = sorted((str(regno), sorted(f.types), f.const, f.upper_zero, f.umax, f.pkt_range, sorted(f.maps))
                  for regno, f in pc_facts.regs.items())
    return [regs, sorted((off, sorted(kinds)) for off, kinds in pc_facts.stack.items()), pc_facts.visits]

def digest(result):
    facts = sorted((pc, fact_text(f)) for pc, f in result.facts.items())
    text = json.dumps([result.accepted, result.log, result.processed_insns, result.total_states,
                       result.peak_states, result.stack_depth, facts], default=repr)
    return hashlib.sha256(text.encode()).hexdigest()

def digests(objects, corpus_dir, seeds):
    spec = importlib.util.spec_from_file_location("verifier_cases", Path(corpus_dir) / "cases.py")
    cases = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cases)
    out = {}
    for path in objects:
        program = load_object(path).program()
        out[Path(path).stem] = digest(analyze(program, log_level=2))
        out[Path(path).stem + ":nfp"] = digest(analyze(program, "nfp", log_level=1))
    for name in sorted(json.loads(cases.MANIFEST.read_text())):
        if name in cases.SLOW:
            continue
        profile, unprivileged = cases.profile_of(name)
        out["corpus:" + name] = digest(analyze(cases.load_case(name), profile, unprivileged=unprivileged,
                                               log_level=1))
    for seed in seeds:
        out[f"random:{seed}"] = digest(analyze(random_program(seed), log_level=2))
    return out
"""


def _digests_here(objects, seeds):
    scope: dict = {}
    exec(DIGESTS, scope)
    return scope["digests"](objects, str(HERE / "verifier_corpus"), seeds)


def _digests_interpreted(objects, seeds):
    script = DIGESTS + (
        "\nassert native.WHY_PURE is not None\n"
        f"print(json.dumps(digests({[str(o) for o in objects]!r}, {str(HERE / 'verifier_corpus')!r}, "
        f"range({seeds.start}, {seeds.stop}))))\n")
    env = dict(os.environ, **{native.PURE_ENV: "1"})
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True,
                          cwd=HERE.parent)
    return json.loads(done.stdout)


def test_compiled_and_interpreted_verifiers_agree(built_examples):
    if native.WHY_PURE is not None:
        pytest.skip(f"the verifier runs interpreted here: {native.WHY_PURE}")
    objects = [built_examples[name] for name in sorted(built_examples)]
    here = _digests_here(objects, RANDOM_SEEDS)
    there = _digests_interpreted(objects, RANDOM_SEEDS)
    assert len(here) > 17 * 2 + 60 + len(RANDOM_SEEDS) - 1
    differing = sorted(name for name in here if here[name] != there.get(name))
    assert differing == []


def test_a_build_that_exists_is_current():
    """`make test` compiles first (`make native`); an existing but stale build is an error here."""
    built = [m for m in native.MODULES if native._compiled_path(m) is not None]
    if not built:
        pytest.skip("no compiled verifier modules (Cython unavailable at install time)")
    assert native.check() is None or os.environ.get(native.PURE_ENV)


def test_compiled_modules_are_the_ones_imported():
    if native.WHY_PURE is not None:
        pytest.skip(f"the verifier runs interpreted here: {native.WHY_PURE}")
    from xdptool.verifier import checker, state

    for module in (checker, state):
        assert not module.__file__.endswith(".py")
    assert native.describe() == "compiled (Cython)"


# -- the guard, on a fake package directory ----------------------------------------------------
@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    monkeypatch.setattr(native, "HERE", tmp_path)
    monkeypatch.setattr(native, "MODULES", ("alpha", "beta"))
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    for name in ("alpha", "beta"):
        (tmp_path / f"{name}.py").write_text(f"NAME = {name!r}\n")
        (tmp_path / f"{name}{suffix}").write_bytes(b"not really a library")
    (tmp_path / "alpha.pxd").write_text("cdef class A:\n    pass\n")
    manifest = {name: native.source_digest(name, tmp_path) for name in ("alpha", "beta")}
    (tmp_path / native.MANIFEST).write_text(json.dumps(manifest))
    return tmp_path


def test_guard_accepts_a_current_build(fake_package):
    assert native.check() is None


def test_guard_refuses_an_edited_source(fake_package):
    (fake_package / "beta.py").write_text("NAME = 'edited'\n")
    assert "beta.py" in native.check() and "make native" in native.check()


def test_guard_refuses_an_edited_pxd(fake_package):
    (fake_package / "alpha.pxd").write_text("cdef class B:\n    pass\n")
    assert "alpha.py" in native.check()


def test_guard_refuses_a_partial_build(fake_package):
    next(fake_package.glob("beta.*-*")).unlink()
    assert native.check() == "compiled modules missing: beta"


def test_guard_refuses_a_missing_or_broken_manifest(fake_package):
    (fake_package / native.MANIFEST).write_text("{not json")
    assert "native.json" in native.check()
    (fake_package / native.MANIFEST).unlink()
    assert "native.json" in native.check()


def test_guard_reports_no_build(fake_package):
    for path in fake_package.glob("*-*"):
        path.unlink()
    assert native.check().startswith("not compiled")


def test_guard_obeys_the_environment(fake_package, monkeypatch):
    monkeypatch.setenv(native.PURE_ENV, "1")
    assert native.PURE_ENV in native.check()


def test_digest_covers_py_and_pxd(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")
    only_py = native.source_digest("m", tmp_path)
    (tmp_path / "m.pxd").write_text("cdef int x\n")
    assert native.source_digest("m", tmp_path) != only_py
    assert only_py == hashlib.sha256(b".py\0x = 1\n").hexdigest()


@pytest.fixture
def stamped_package(fake_package):
    """The fake build with the manifest setup.py writes: digests and the sources' stamps."""
    (fake_package / native.MANIFEST).write_text(json.dumps(native.build_manifest(fake_package, ("alpha", "beta"))))
    return fake_package


def test_guard_trusts_unchanged_stamps_without_hashing(stamped_package, monkeypatch):
    def no_hashing(*args):
        raise AssertionError("hashed although the stamps are the build's")

    monkeypatch.setattr(native, "source_digest", no_hashing)
    assert native.check() is None


def test_guard_hashes_a_source_whose_stamp_changed(stamped_package):
    beta = stamped_package / "beta.py"
    stat = beta.stat()
    beta.write_text("NAME = 'betb'\n")  # same size, other content...
    os.utime(beta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # ...and a later mtime: hashed and refused
    assert "beta.py" in native.check()
    beta.write_text("NAME = 'beta'\n")  # the built content again, with a new mtime: hashed and accepted
    os.utime(beta, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2))
    assert native.check() is None


def test_guard_hashes_a_removed_or_added_pxd(stamped_package):
    (stamped_package / "beta.pxd").write_text("cdef class B:\n    pass\n")
    assert "beta.py" in native.check()


def test_starting_the_verifier_imports_neither_hashlib_nor_pathlib():
    """native.select() runs at every start: a current build is recognised by its stamps alone."""
    code = ("import sys, xdptool.verifier as v; from xdptool.verifier import native; "
            "print(native.WHY_PURE is None, *(m in sys.modules for m in ('hashlib', 'pathlib', 'importlib.abc')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    if out[0] != "True":
        pytest.skip("the verifier runs interpreted here")
    assert out[1:] == ["False", "False", "False"]
